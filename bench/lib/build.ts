/**
 * Benches measure what `npm start` runs: the compiled build (dist/, `npm run
 * build`), not TypeScript loaded through tsx at run time (tsx compiles with
 * esbuild's keepNames, which calls a naming helper on every closure the hot
 * path creates, and keeps the compiler and source maps in the server's heap).
 * `buildDist` compiles (incremental: a few seconds when little changed);
 * `compiledArgs` gives the node arguments that run a source module's
 * compiled form.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root (where package.json and dist/ are), whether this module runs from source or from dist/. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), import.meta.url.endsWith('.js') ? '../../..' : '../..');

/** Compiles the runtime into dist/ (tsconfig.build.json); throws with tsc's output if it fails. */
export function buildDist(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', path.join(REPO_ROOT, 'tsconfig.build.json')], { cwd: REPO_ROOT, stdio: 'pipe' });
  } catch (error) {
    const out = (error as { stdout?: Buffer }).stdout?.toString() ?? '';
    throw new Error(`npm run build failed:\n${out}`, { cause: error });
  }
}

/** Node arguments running the compiled form of `sourceFile` (repository-relative, e.g. `server/cli.ts`). */
export function compiledArgs(sourceFile: string): string[] {
  if (!sourceFile.endsWith('.ts')) throw new Error(`not a TypeScript module: ${sourceFile}`);
  return [path.join(REPO_ROOT, 'dist', `${sourceFile.slice(0, -3)}.js`)];
}
