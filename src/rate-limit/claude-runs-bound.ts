// What a Messages body lets Anthropic run beyond one sampling of the requested model, for its budget
// hold: the server-tool loop (each iteration reads the whole context again; the MCP connector's tools
// run in it too), advisor consultations (billed at the advisor model's rates) and server-side fallback
// attempts (at each fallback model's). Pure; a body with none of them costs a walk of its tools and
// three property reads.
// @see https://platform.claude.com/docs/en/agents-and-tools/tool-use/overview (the server-side sampling loop)
// @see https://platform.claude.com/docs/en/agents-and-tools/mcp-connector
// @see https://platform.claude.com/docs/en/agents-and-tools/tool-use/advisor-tool
// @see https://platform.claude.com/docs/en/build-with-claude/refusals-and-fallback
import { isRecord } from '../json/guards.js';
import { heldCost, heldMultiplier, heldWrites, type HeldWrites } from '../catalog/call-cost.js';
import type { CatalogEntry } from '../catalog/catalog-types.js';

/**
 * Anthropic's server-side sampling loop runs at most this many iterations before it answers
 * `stop_reason: "pause_turn"` ("The server-side sampling loop has a default limit of 10 iterations").
 * Nothing in a request bounds it lower: a tool used past its `max_uses` answers an error the model
 * reads in one more iteration, and the newer web search tools filter results with code execution
 * in iterations of their own.
 */
export const SERVER_LOOP_ITERATIONS = 10;

/** The tools Anthropic runs itself, in its sampling loop (`server_tool_use`), by their dated `type`. */
const SERVER_TOOL = /^(?:web_search|web_fetch|code_execution|tool_search_tool_[a-z0-9]+|advisor)_\d{8}$/;
const ADVISOR_TOOL = /^advisor_\d{8}$/;

/** One advisor tool: who advises, how often and how long at most. */
export interface AdvisorRun {
  model: string;
  /** Where the body names the model (`tools[1].model`), for an error about it. */
  field: string;
  /** `max_uses`, else one consultation per iteration of the loop. */
  uses: number;
  /** `max_tokens` (the advisor's thinking and text per call); undefined: the advisor model's output limit. */
  maxTokens: number | undefined;
  /** What the advisor's own prompt is written to the cache at (its `caching` field). */
  writes: HeldWrites;
}

/** One fallback attempt the request names, with the fields it may override for that attempt. */
export interface FallbackRun {
  model: string;
  /** Where the body names the model (`fallbacks[0].model`). */
  field: string;
  maxTokens: number | undefined;
  speed: unknown;
}

export interface ClaudeRuns {
  /** Sampling iterations of the requested model (1 without a server tool or an MCP server). */
  iterations: number;
  /** Present when the body declares MCP servers (`mcp_servers`), whose tools Anthropic runs in the loop. */
  mcp?: true;
  advisors: AdvisorRun[];
  /** `fallbacks` as asked: its entries (Anthropic takes up to three), or `default` (Anthropic picks the model). */
  fallbacks: FallbackRun[] | 'default';
}

function positive(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function advisorRun(tool: Record<string, unknown>, index: number): AdvisorRun | undefined {
  if (typeof tool.model !== 'string' || tool.model.length === 0) return undefined;
  const caching = tool.caching;
  const writes: HeldWrites = !isRecord(caching) ? 'none' : caching.ttl === '1h' ? '1h' : 'default';
  return { model: tool.model, field: `tools[${index}].model`, uses: positive(tool.max_uses) ?? SERVER_LOOP_ITERATIONS, maxTokens: positive(tool.max_tokens), writes };
}

function fallbackRuns(value: unknown): FallbackRun[] | 'default' {
  if (value === 'default') return 'default';
  if (!Array.isArray(value)) return [];
  const runs: FallbackRun[] = [];
  for (let index = 0; index < value.length; index++) {
    const entry: unknown = value[index];
    if (!isRecord(entry) || typeof entry.model !== 'string' || entry.model.length === 0) continue;
    runs.push({ model: entry.model, field: `fallbacks[${index}].model`, maxTokens: positive(entry.max_tokens), speed: entry.speed });
  }
  return runs;
}

/**
 * The runs a Messages body (as it reaches Anthropic) allows beyond one sampling of its model, or
 * undefined when it allows none. `tool_choice: none` runs no tool, so no loop and no advisor.
 */
export function claudeRuns(body: unknown): ClaudeRuns | undefined {
  if (!isRecord(body)) return undefined;
  const fallbacks = fallbackRuns(body.fallbacks);
  let iterations = 1;
  const advisors: AdvisorRun[] = [];
  const toolsRun = !(isRecord(body.tool_choice) && body.tool_choice.type === 'none');
  // The MCP connector calls its servers' tools itself (mcp_tool_use, mcp_tool_result) in the same
  // loop as the server tools. Any server declared may run it: the mcp_toolset entries in `tools` only
  // configure a declared server's tools (and the 2025-04-04 beta has none), so the servers decide.
  const mcp = toolsRun && Array.isArray(body.mcp_servers) && body.mcp_servers.length > 0;
  if (mcp) iterations = SERVER_LOOP_ITERATIONS;
  if (toolsRun && Array.isArray(body.tools)) {
    const tools: unknown[] = body.tools;
    for (let index = 0; index < tools.length; index++) {
      const tool = tools[index];
      if (!isRecord(tool) || typeof tool.type !== 'string' || !SERVER_TOOL.test(tool.type)) continue;
      iterations = SERVER_LOOP_ITERATIONS;
      const advisor = ADVISOR_TOOL.test(tool.type) ? advisorRun(tool, index) : undefined;
      if (advisor !== undefined) advisors.push(advisor);
    }
  }
  if (iterations === 1 && advisors.length === 0 && fallbacks !== 'default' && fallbacks.length === 0) return undefined;
  return mcp ? { iterations, advisors, fallbacks, mcp } : { iterations, advisors, fallbacks };
}

/** A chat request translated for Claude runs its web search (`web_search_options`) in the same loop. */
export const TRANSLATED_SEARCH_RUNS: ClaudeRuns = { iterations: SERVER_LOOP_ITERATIONS, advisors: [], fallbacks: [] };

/** What pricing the runs of one call takes: the requested model's route and the request. */
export interface RunsPricing {
  /** The requested model's entry (priced). */
  entry: CatalogEntry;
  /** The entry a model named in the request is billed by on the route's provider (src/http/usage-record.ts entryOf). */
  entryOf: (model: string) => CatalogEntry | undefined;
  promptTokens: number;
  /** The requested model's output allowance. */
  output: number;
  /** The request's `max_tokens`, which a fallback attempt keeps unless its entry overrides it. */
  asked: number | undefined;
  /** A model's output allowance when nothing in the request bounds it. */
  limit: (entry: CatalogEntry) => number;
  /** The prompt-cache writes the request's markers cause on a model (src/catalog/call-cost.ts heldWrites). */
  writesOf: (entry: CatalogEntry) => HeldWrites;
  /** The requested model's rate multiplier for this request (fast mode, inference geography). */
  scale: number;
  /** The body as it reaches Anthropic (its `speed` and `inference_geo`); undefined for a translated chat request. */
  body: unknown;
}

/** A model named in the request is billed at the requested model's rates when the catalog does not price it (as usageCost does). */
function billedBy(pricing: RunsPricing, model: string): CatalogEntry {
  const own = pricing.entryOf(model);
  return own !== undefined && own.input_cost !== null && own.output_cost !== null ? own : pricing.entry;
}

/**
 * The most `runs` can add to the requested model's first sampling, in USD: its further iterations
 * reading the prompt again; each advisor's consultations (the prompt, as the advisor reads the whole
 * transcript, and its max_tokens), at the advisor's rates and US-only multiplier (not fast mode's,
 * as billed); and each fallback attempt, at its model's rates, reading the prompt and what the
 * attempts before it may have written, with its own loop. The tool results and text a loop adds to
 * the context are not held: nothing in the request bounds them.
 */
export function claudeRunsHold(runs: ClaudeRuns, pricing: RunsPricing): number {
  const { entry, promptTokens, body } = pricing;
  const loops = runs.iterations - 1;
  const request = isRecord(body) ? body : undefined;
  const geo = request?.inference_geo;
  const again = (model: CatalogEntry, input: number) => (loops > 0 ? (heldCost(model, input, 0, pricing.writesOf(model)) ?? 0) * loops : 0);
  let extra = again(entry, promptTokens) * pricing.scale;
  for (const advisor of runs.advisors) {
    const model = billedBy(pricing, advisor.model);
    const call = heldCost(model, promptTokens, advisor.maxTokens ?? pricing.limit(model), heldWrites(model, () => advisor.writes)) ?? 0;
    extra += call * advisor.uses * heldMultiplier(model, { inference_geo: geo });
  }
  // A fallback attempt runs the same request on another model: its own loop, at its own speed.
  const attempt = (model: CatalogEntry, input: number, output: number, speed: unknown) =>
    ((heldCost(model, input, output, pricing.writesOf(model)) ?? 0) + again(model, input)) * heldMultiplier(model, { speed, inference_geo: geo });
  let written = pricing.output;
  if (runs.fallbacks === 'default') return extra + attempt(entry, promptTokens + written, pricing.asked ?? pricing.limit(entry), request?.speed);
  for (const fallback of runs.fallbacks) {
    const model = billedBy(pricing, fallback.model);
    const output = fallback.maxTokens ?? pricing.asked ?? pricing.limit(model);
    extra += attempt(model, promptTokens + written, output, fallback.speed ?? request?.speed);
    written += output;
  }
  return extra;
}
