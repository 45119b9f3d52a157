// match.js: what the model's calibration (wasm/engine/calibrate.go: how
// high its cosines run for a caption and the clip it describes, against a
// clip it does not) says of a search's results. Moments below its
// threshold fold under "Weaker matches"; when the best result is below
// it, the page says that nothing matches well, and for a model of the
// demo world, when it is far below, that the query looks outside it.

const KEPT = 'clip4clip.calibration.'; // + the model file's SHA-256, in localStorage

/**
 * calibrate returns the pool's model's calibration (info.calibration): the
 * model file's, else one this browser measured before for the same file,
 * else measured now (a frame worker draws and embeds the probe clips, the
 * query worker scores them: about a second for the default model) and
 * kept. null for a text-only file without one: it has no vision tower to
 * measure with.
 */
export async function calibrate(pool, id, info) {
  if (info.calibration) return info.calibration;
  if (info.textOnly || !pool.frames.length) return null;
  let kept = null;
  try {
    kept = localStorage.getItem(KEPT + id);
  } catch {
    // no storage: measure
  }
  if (kept) {
    try {
      return await pool.query.call('setCalibration', { json: kept });
    } catch (err) {
      console.warn('clip4clip: the calibration kept for this model is unusable; measuring again', err);
      localStorage.removeItem(KEPT + id);
    }
  }
  const { set, features } = await pool.frames[0].call('calibrationSet');
  const cal = await pool.query.call('calibrate', { set, features }, [features.buffer]);
  try {
    localStorage.setItem(KEPT + id, JSON.stringify(cal.calibration));
  } catch {
    // storage full or off: measured again next visit
  }
  return cal;
}

/**
 * verdict says what cal makes of results whose best score (the engine's
 * units: logitScale x cosine) is best: {weak, outside}, or null when
 * there is no calibration or it cannot tell (cal.tells false).
 */
export function verdict(cal, best) {
  if (!cal || !cal.tells || !Number.isFinite(best)) return null;
  const weak = best < cal.thresholdScore;
  return { weak, outside: weak && cal.outsideScore !== null && best < cal.outsideScore };
}

/** isWeak tells whether a result of score is a weak match under cal. */
export function isWeak(cal, score) {
  return !!(cal && cal.tells && score < cal.thresholdScore);
}

/**
 * show folds the weak moment cards (cards: [{li, score}] in the order of
 * #moments) into the "Weaker matches" disclosure and says, in #no-match,
 * when the best result (best) is weak. model is state.model (its name,
 * source and info.calibration), query the text searched.
 */
export function show(cards, best, model, query) {
  const cal = model && model.info.calibration;
  const note = document.querySelector('#no-match');
  const weaker = document.querySelector('#weaker');
  const list = document.querySelector('#weaker-moments');
  list.textContent = '';
  let folded = 0;
  for (const { li, score } of cards) {
    if (!isWeak(cal, score)) continue;
    li.classList.add('weak');
    list.append(li);
    folded++;
  }
  weaker.hidden = folded === 0;
  weaker.querySelector('summary').textContent = `Weaker matches (${folded})`;
  const v = verdict(cal, best);
  note.hidden = !(v && v.weak);
  if (note.hidden) {
    note.textContent = '';
    return;
  }
  if (!v.outside) {
    note.textContent = `Nothing matches “${query}” well: the best result scores ${best.toFixed(1)}, below ${cal.thresholdScore.toFixed(1)}, where matches begin for this model.`;
    return;
  }
  const who = model.source === 'default' || model.source === 'default-cache' ? 'the default model' : 'this model';
  note.textContent = `Nothing matches “${query}” well: the best result scores ${best.toFixed(1)}, far below the ${cal.thresholdScore.toFixed(1)} where matches begin for this model. The query looks outside the demo world, the only one ${who} knows (coloured shapes that move, grow, spin and change colour). To search real scenes, load a real CLIP: “Get a real model”.`;
}
