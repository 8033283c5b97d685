// The project's TypeScript sources, for tests that read them as text (lints of what the code may do).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Every `.ts` file under `dir` but the tests, depth first. */
export function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(path, out);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}
