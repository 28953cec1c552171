/**
 * Saved workflow names: letters, digits, spaces and `_ - . ( )`, starting with a letter or digit,
 * at most 100 characters, no "..", not ending in a space or a dot: nothing that can name another
 * directory. No Node imports: the editor checks names with the same rule before asking the server.
 */
const NAME = /^[A-Za-z0-9][A-Za-z0-9 _.()-]{0,99}$/;

export const WORKFLOW_NAME_RULE = '1–100 letters, digits, spaces or _ - . ( ), starting with a letter or digit (no "..", not ending in a space or a dot)';

export function isWorkflowName(name: string): boolean {
  return NAME.test(name) && !name.includes('..') && !name.endsWith(' ') && !name.endsWith('.');
}
