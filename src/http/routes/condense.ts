// POST /api/condense: a conversation → a summary within max_tokens (CONTRACT.md), written by the
// summarising model, map-reduced over long inputs, extractive when no model can serve (src/context/).
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalidJson, invalidType, invalidValue, modelNotFound } from '../../errors/gateway-error.js';
import { condenserFor } from '../../context/context-condenser.js';
import { runCondensation } from '../../context/condense-usage.js';
import { isInstruction, recentStart } from '../../context/conversation-trim.js';
import { ChatCompletionRequestSchema, validateChatRequest } from '../../openai/chat-request-schema.js';
import type { ChatMessage } from '../../openai/types.js';
import { MAX_MODEL_LENGTH, type ModelGroup } from '../../routing/model-router.js';
import type { Services } from '../../services.js';
import { tokenCountMethod } from '../../usage/token-estimator.js';
import { checkModelAccess } from '../chat-pipeline.js';
import { guardBody } from '../json-body.js';
import { knownFields } from '../../json/known-fields.js';
import { warningsHeader } from '../warnings-header.js';

export const DEFAULT_SUMMARY_TOKENS = 512;
/**
 * The largest summary budget: a summary is short by design, and a larger one is more than most
 * models write in one answer (the summariser call is also lowered to its catalog output limit).
 */
export const SUMMARY_TOKENS_CEILING = 32_768;
const MAX_INSTRUCTIONS = 4_000;
const DEFAULT_MODEL_HINT = " It is the configured summariser (condense.model): name one this key may use in 'model'.";

/** Absent or null: the default. */
const optional = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));

/**
 * The body of POST /api/condense, as /openapi.json shows it. Its names are the only fields
 * parseCondenseBody accepts (any other is refused), and its bounds are the ones the parser checks.
 */
export const CondenseBodySchema = Type.Object(
  {
    // The chat route's own schema: the parser checks the messages with it.
    messages: { ...ChatCompletionRequestSchema.properties.messages, description: "The conversation, checked as /v1/chat/completions' messages are." },
    max_tokens: optional(
      Type.Integer({
        minimum: 1,
        maximum: SUMMARY_TOKENS_CEILING,
        default: DEFAULT_SUMMARY_TOKENS,
        description: "The summary budget: summary_tokens never exceeds it. The summariser is asked for at most its model's catalog output limit; X-LLM-Proxy-Warnings then says so.",
      }),
    ),
    model: optional(
      // No maxLength: a longer name is a name nothing serves, a 404 as on the chat routes, not a 400.
      Type.String({
        minLength: 1,
        description: `The summarising model. Default: condense.model, else the cheapest routable chat model the key may use. Over ${MAX_MODEL_LENGTH} characters it names no model (404 model_not_found).`,
      }),
    ),
    preserve_recent: optional(
      Type.Integer({ minimum: 0, default: 0, description: 'The newest N messages stay verbatim, from the user message at or before the Nth-newest on, so the kept turns open with a user turn and a tool call keeps its results (preserved can be more than N).' }),
    ),
    instructions: optional(Type.String({ maxLength: MAX_INSTRUCTIONS, description: 'Extra guidance for the summariser.' })),
  },
  { additionalProperties: false },
);

export interface CondenseBody {
  messages: ChatMessage[];
  maxTokens: number;
  model: string | undefined;
  preserveRecent: number;
  instructions: string | undefined;
}

function optionalInteger(body: Record<string, unknown>, param: string, bounds: { minimum: number; maximum?: number }, fallback: number): number {
  const value = body[param];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number') throw invalidType(param, 'an integer');
  if (!Number.isInteger(value)) throw invalidValue(param, `${value} is not an integer`);
  if (value < bounds.minimum) throw invalidValue(param, `${value} is below the minimum of ${bounds.minimum}`);
  if (bounds.maximum !== undefined && value > bounds.maximum) throw invalidValue(param, `${value} is above the maximum of ${bounds.maximum}`);
  return value;
}

function optionalString(body: Record<string, unknown>, param: string, maxLength: number): string | undefined {
  const value = body[param];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidType(param, 'a string');
  if (value.length > maxLength) throw invalidValue(param, `longer than ${maxLength} characters`);
  return value;
}

/** Checks the body; the messages get the chat route's own validation, so the same `param` names. */
export function parseCondenseBody(body: unknown): CondenseBody {
  if (body === undefined || body === null) throw invalidJson('The request body is empty.');
  if (typeof body !== 'object' || Array.isArray(body)) throw invalidType('body', 'a JSON object');
  const fields = body as Record<string, unknown>;
  knownFields(fields, CondenseBodySchema);
  if (fields.messages === undefined || fields.messages === null) throw invalidType('messages', 'a required field (a non-empty array of messages)');
  if (!Array.isArray(fields.messages)) throw invalidType('messages', 'an array of messages');
  if (fields.messages.length === 0) throw invalidType('messages', 'a non-empty array');
  const { messages } = validateChatRequest({ model: 'condense', messages: fields.messages });
  const model = optionalString(fields, 'model', Number.POSITIVE_INFINITY);
  if (model !== undefined && model.length === 0) throw invalidValue('model', 'empty');
  // An over-long name is a name nothing serves: 404, as on the chat routes (RELIABILITY 4a#9).
  if (model !== undefined && model.length > MAX_MODEL_LENGTH) throw modelNotFound(model);
  return {
    messages,
    maxTokens: optionalInteger(fields, 'max_tokens', { minimum: 1, maximum: SUMMARY_TOKENS_CEILING }, DEFAULT_SUMMARY_TOKENS),
    model,
    preserveRecent: optionalInteger(fields, 'preserve_recent', { minimum: 0 }, 0),
    instructions: optionalString(fields, 'instructions', MAX_INSTRUCTIONS),
  };
}

/** Every deployment of the group is a model the catalog knows and marks as not a chat model. */
function cannotChat(group: ModelGroup): boolean {
  return group.deployments.length > 0 && group.deployments.every((deployment) => deployment.route.entry?.supports_chat === false);
}

export function registerCondense(app: FastifyInstance, services: Services): void {
  const condenser = condenserFor(services);

  app.post('/api/condense', { config: { auth: 'client' } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const started = Date.now();
    if (request.body !== undefined && request.body !== null) guardBody(request.body as Record<string, unknown>);
    const input = parseCondenseBody(request.body);
    // The key's allowlist holds for the operator's `condense.model` as for a model the client names:
    // a key that may not use it is refused (403), not answered by it, nor by a model put in its place.
    const named = input.model ?? services.config.condense?.model;
    const group = named === undefined ? condenser.pickModel(request.principal?.models) : services.router.plan(named);
    if (group === undefined && input.model !== undefined) throw modelNotFound(input.model);
    if (group !== undefined && named !== undefined) checkModelAccess(request, services.router, group, named, input.model === undefined ? DEFAULT_MODEL_HINT : '');
    // A model the catalog knows cannot chat (an embedding model) would only fail upstream and leave
    // an extractive summary in its place: the client named it, so it is told instead (after the
    // allowlist, so a key learns nothing of a model it may not use).
    if (group !== undefined && input.model !== undefined && cannotChat(group)) {
      throw invalidValue('model', `'${input.model}' is not a chat model; the summary needs one`);
    }

    // `preserve_recent`: the newest messages stay verbatim (from a user turn on); the older ones are
    // summarised, all but their system/developer prompts, which stay verbatim too. What stays is never
    // sent to the summariser, so a conversation with nothing else to summarise makes no call.
    const cut = recentStart(input.messages, input.preserveRecent);
    const older = input.messages.slice(0, cut);
    const recent = input.messages.slice(cut);
    const instructions = older.filter(isInstruction);
    const summarised = older.filter((message) => !isInstruction(message));
    const prepared = await condenser.prepare({ messages: summarised, maxTokens: input.maxTokens, group, instructions: input.instructions });
    // The summariser's tokens count against the key's token limit and budget, as a chat call's do:
    // every planned call's (a map-reduce makes one per chunk and one to combine them).
    const result = await runCondensation(services, request, reply, prepared, { group, started, recordWithoutCalls: true });
    // Said as a chat answer says what changed; an extractive summary was written to max_tokens itself.
    const shown = result.method === 'extractive' ? undefined : warningsHeader(prepared.warnings, services.redactor);
    if (shown !== undefined) reply.header('x-llm-proxy-warnings', shown);
    return {
      ...result,
      // Counted with gpt-tokenizer (o200k_base): exact for OpenAI models, an estimate for other providers.
      token_count: tokenCountMethod(group?.deployments[0]?.route.provider.kind),
      // The conversation to send on: its instructions, the summary, then the preserved recent turns.
      // The summary is a system message, as the chat policy's is: after the instructions, before a user turn.
      messages: summarised.length > 0 ? [...instructions, { role: 'system', content: `Summary of the earlier conversation: ${result.summary}` }, ...recent] : input.messages,
      preserved: recent.length,
    };
  });
}
