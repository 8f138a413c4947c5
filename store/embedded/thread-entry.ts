/**
 * The entry file of one of this folder's worker threads. In the compiled build
 * (`npm run build`: this module is `.js`, under dist/) it is the compiled
 * module itself. From source it is the module's `.mjs` shim, which loads
 * TypeScript through tsx: Node 20 does not pass a parent's `--import tsx` on
 * to worker threads.
 */
export function threadEntry(name: string): URL {
  return new URL(import.meta.url.endsWith('.js') ? `./${name}.js` : `./${name}.mjs`, import.meta.url);
}
