// words.js turns the engine's error texts, written for developers and the
// command line ("weights: model file: tensor "x" lies at bytes a..b,
// outside the n-byte file (truncated?)"), into a sentence for people; the
// page shows the original behind a "details" toggle.

// Prefixes the Go packages put on their errors (weights.FormatError,
// engine.IndexError, siteindex.FormatError).
const PREFIXES = /(^|: )(?:weights: (?:model file|[^:]+\.c4c): |engine: index file: |siteindex: )/g;

// Whole messages with a plainer meaning, tried in order.
const PLAIN = [
  [/tensor "[^"]*" lies at bytes \d+\.\.\d+, outside the \d+-byte file.*$/, 'the file is cut short (a download or copy that did not finish?); get it again'],
  [/truncated in its \d+-byte header.*$/, 'the file is cut short (a download or copy that did not finish?); get it again'],
];

/**
 * plain returns {text, changed}: text without the packages' prefixes,
 * known technical phrasings in words, and `code` quoted as “code”.
 */
export function plain(text) {
  let out = String(text).replace(PREFIXES, '$1');
  for (const [re, words] of PLAIN) out = out.replace(re, words);
  out = out.replace(/`([^`]*)`/g, '“$1”');
  return { text: out, changed: out !== text };
}
