// page.js holds what the page's modules share: the query parameters, the
// page's state (the model, the videos and the last results) and the pool
// of engine workers, made once when the page starts.

import { Pool } from './pool.js';

export const $ = (sel, root = document) => root.querySelector(sel);
export const params = new URLSearchParams(location.search);
export const debug = params.has('debug') || localStorage.getItem('clip4clip.debug') === '1';
export const state = {
  model: null, // {id, name, size, source, info, origin}
  ready: false, // the model, its workers and its saved index are loaded
  loading: null, // a promise while a model loads
  videos: new Map(), // key -> video (see newVideo)
  order: [], // keys, oldest first
  results: null, // the last search's answer
  query: '',
  searchSeq: 0,
  lastSearch: null, // timing of the last search, for the debug hook
  reused: 0,
  finishing: 0, // videos embedded whose features are going into the search index and storage
  sites: [], // site indexes imported for this visit (lib/site.js), searched beside the videos
  fps: Number(params.get('fps') || localStorage.getItem('clip4clip.fps')) || 1,
  workers: params.get('workers') || localStorage.getItem('clip4clip.workers') || 'auto',
};

export const pool = new Pool({ backend: params.get('backend') || 'auto', simd: params.get('simd') || '' }); // auto, webgpu or wasm; ?simd= for measuring
