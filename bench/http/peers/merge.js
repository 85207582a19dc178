'use strict';
// JSON Merge Patch (RFC 7396) for chatbot settings: for each member of the patch, an
// object merges recursively into an object, null removes the member, anything else
// (arrays included) replaces it. Returns a new value; neither argument is modified.

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function mergePatch(target, patch) {
  if (!isObject(patch)) return patch;
  const out = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

module.exports = { isObject, mergePatch };
