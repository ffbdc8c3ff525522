// Spectral resolves $refs before a rule sees its target, so "uses the error schema" is checked
// by comparing the resolved schema with the resolved components.schemas.Error: an inline copy
// that drifts from it, or any other schema, is reported.
function same(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => Object.prototype.hasOwnProperty.call(b, key) && same(a[key], b[key]));
}

export default (schema, _options, context) => {
  const resolved = context.documentInventory.resolved;
  const error = resolved?.components?.schemas?.Error;
  if (error === undefined) {
    return [{ message: "components.schemas.Error is missing" }];
  }
  if (!same(schema, error)) {
    return [{ message: "An error response's body must be the Error schema ($ref: '#/components/schemas/Error')." }];
  }
  return [];
};
