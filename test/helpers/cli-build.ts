/**
 * The CLI compiled for tests that run it as a real process (`node <dir>/cli.js serve`). Does I/O: runs
 * `tsc -p tsconfig.build.json` into node_modules/.cache (incremental), never into the repository's dist/,
 * which a developer or a benchmark may be using. Node finds the packages from there by walking up.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = join(ROOT, 'node_modules', '.cache', 'mcpgate-cli');

/** Compiles src/ and answers the path of the built cli.js. Rejects with tsc's output if it fails. */
export async function buildCli(): Promise<string> {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [tsc, '-p', 'tsconfig.build.json', '--outDir', join(OUT, 'dist')];
  args.push('--tsBuildInfoFile', join(OUT, 'tsbuildinfo'));
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`tsc failed:\n${output}`))));
  });
  return join(OUT, 'dist', 'cli.js');
}
