// The app's route table as Fastify prints it, in the spelling of /openapi.json and the README, so
// suites that must cover every route (the OpenAPI document, the README, the client-input fuzz) pick
// up a new route on their own.
import type { FastifyInstance } from 'fastify';

/** [METHOD, url] for every route, read from Fastify's printRoutes tree (one level = 4 characters); HEAD left out. */
export function routesOf(tree: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│├└─\s]*)(\S.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (match === null) continue;
    const depth = Math.max(0, (match[1] ?? '').length / 4 - 1);
    const path = (stack[depth - 1] ?? '') + (match[2] ?? '');
    stack[depth] = path;
    stack.length = depth + 1;
    for (const method of (match[3] ?? '').split(', ')) if (method !== '' && method !== 'HEAD') out.push([method, path]);
  }
  return out;
}

/**
 * A route pattern in the README's spelling: `:id` → `{id}`; a wildcard, which printRoutes shows
 * under its parent without the slash (`/api/models` → `*`), → `/{*}`.
 */
export function documentedPath(url: string): string {
  return url.replace(/:([A-Za-z_]+)/g, '{$1}').replace(/\/?\*$/, '/{*}');
}

/** Whether a concrete or templated path (`/admin/keys/{id}`, `/v1/models/openai/gpt-4o`) reaches a route pattern. */
export function pathMatches(pattern: string, path: string): boolean {
  const concrete = path.replace(/\{[^}]*\}/g, 'x');
  const source = documentedPath(pattern)
    .split(/(\{[^}]*\})/)
    .map((part) => (part === '{*}' ? '.+' : part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}/?$`).test(concrete);
}

/** The live app's routes, as routesOf reads them, e.g. ['GET', '/v1/models/*']. */
export function routeTable(app: FastifyInstance): Array<[string, string]> {
  return routesOf(app.printRoutes({ commonPrefix: false }));
}
