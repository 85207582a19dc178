// JSON Merge Patch (RFC 7396), as the server applies it to settings (API.md section 3):
// the dashboard shows the result before it sends the patch.
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

export function mergePatch(target, patch) {
  if (!isObject(patch)) return patch;
  const out = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
