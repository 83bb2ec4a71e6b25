// Types of writeSchema.mjs, for the test that compares its output with the committed schema.
export function buildSchema(): Record<string, unknown>;
