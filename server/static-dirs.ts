import { fileURLToPath } from 'node:url';

/** The shipped workflows: templates in the editor, and the seeds of documents of the same name. */
export const TEMPLATES_DIR = fileURLToPath(new URL('../workflows', import.meta.url));

/** The built editor (`npm run build:editor`, run by `npm start` when the sources changed). */
export const EDITOR_DIST = fileURLToPath(new URL('../editor/dist', import.meta.url));
