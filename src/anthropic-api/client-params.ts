// The Messages request's own param paths for a 400 raised after translation to chat (the pipeline's
// checks, a provider translator's): the client sent `tools[0].name`, not `tools[0].function.name`,
// and its message indexes differ from the chat form's (`system` is a chat message, one turn's
// tool_result blocks are several `tool` messages). Pure: the translation records where each chat
// message came from; the route maps an error's path, and the path quoted in its message, on the way out.
import { isGatewayError } from '../errors/gateway-error.js';

/** A chat content part's block: its index in the turn, or [tool_result block, index in its content] for an image of a result. */
export type PartOrigin = number | readonly [number, number];

/** Where one chat message came from in the Messages request. */
export type MessageOrigin =
  | { kind: 'system' }
  /** A user or assistant turn: `parts` when the chat content is an array, `calls` the tool_use block of each tool call. */
  | { kind: 'turn'; message: number; parts?: readonly PartOrigin[]; calls?: readonly number[] }
  | { kind: 'tool_result'; message: number; block: number };

const MESSAGE = /^messages\[(\d+)\](.*)$/s;
const PART = /^\.content\[(\d+)\](.*)$/s;
const CALL = /^\.tool_calls\[(\d+)\](.*)$/s;
const FUNCTION = /^tools\[(\d+)\]\.function(.*)$/s;
const STOP = /^stop(\[\d+\])?$/;
const SCHEMA = 'response_format.json_schema.schema';

/** `tools[i].function<rest>` → `tools[i]<rest>`: the client's tool has its fields at the top, the schema as `input_schema`. */
function toolField(rest: string): string {
  if (rest.startsWith('.parameters')) return `.input_schema${rest.slice('.parameters'.length)}`;
  return rest;
}

/** A content part's field: images and documents are `source` blocks on the client's side. */
function partField(rest: string): string {
  if (rest.startsWith('.image_url') || rest.startsWith('.file')) return '.source';
  return rest === '.text' || rest.startsWith('.cache_control') ? rest : '';
}

/** A tool call's field: `function.arguments` is the block's `input`, `function.name` its `name`. */
function callField(rest: string): string {
  if (rest === '.function.arguments') return '.input';
  if (rest === '.function.name') return '.name';
  return rest === '.id' ? rest : '';
}

export class ClientParams {
  /** One entry per chat message, in order. */
  readonly origins: MessageOrigin[] = [];
  /** Which field `reasoning_effort` came from, when one did. */
  effort: 'thinking' | 'output_config.effort' = 'thinking';
  /** Which field `response_format` came from: the beta's `output_format` or `output_config.format`. */
  format: 'output_config.format' | 'output_format' = 'output_config.format';
  /** The client's index of each chat tool, once a web search tool was taken out of the list (else the same). */
  tools: number[] | undefined;

  private message(index: number, rest: string): string {
    const origin = this.origins[index];
    if (origin === undefined) return 'messages';
    if (origin.kind === 'system') return 'system';
    const base = `messages[${origin.message}]`;
    if (origin.kind === 'tool_result') {
      const block = `${base}.content[${origin.block}]`;
      if (rest === '.tool_call_id') return `${block}.tool_use_id`;
      return rest.startsWith('.content') ? `${block}.content` : block;
    }
    const part = PART.exec(rest);
    if (part !== null) {
      const from = origin.parts?.[Number(part[1])];
      if (from === undefined) return `${base}.content`;
      const at = typeof from === 'number' ? `${base}.content[${from}]` : `${base}.content[${from[0]}].content[${from[1]}]`;
      return at + partField(part[2] ?? '');
    }
    const call = CALL.exec(rest);
    if (call !== null) {
      const block = origin.calls?.[Number(call[1])];
      return block === undefined ? `${base}.content` : `${base}.content[${block}]${callField(call[2] ?? '')}`;
    }
    if (rest === '.tool_calls' || rest.startsWith('.content')) return `${base}.content`;
    return rest === '.role' ? `${base}.role` : base;
  }

  /**
   * The client's path for a chat-side one. `rewritten`: the context policy replaced the chat
   * messages (truncated or condensed), so their indexes no longer match the recorded origins.
   */
  map(param: string, rewritten = false): string {
    const message = MESSAGE.exec(param);
    if (message !== null) return rewritten ? 'messages' : this.message(Number(message[1]), message[2] ?? '');
    const tool = FUNCTION.exec(param);
    if (tool !== null) return `tools[${this.tools?.[Number(tool[1])] ?? tool[1]}]${toolField(tool[2] ?? '')}`;
    const stop = STOP.exec(param);
    if (stop !== null) return `stop_sequences${stop[1] ?? ''}`;
    if (param.startsWith(SCHEMA)) return `${this.format}.schema${param.slice(SCHEMA.length)}`;
    if (param.startsWith('response_format')) return this.format;
    if (param.startsWith('tool_choice')) return param === 'tool_choice.function.name' ? 'tool_choice.name' : 'tool_choice';
    switch (param) {
      case 'max_completion_tokens':
        return 'max_tokens';
      case 'user':
        return 'metadata.user_id';
      case 'parallel_tool_calls':
        return 'tool_choice.disable_parallel_tool_use';
      case 'reasoning_effort':
        return this.effort;
      case 'stream_options':
        return 'stream';
      default:
        return param;
    }
  }

  /**
   * An `X-LLM-Proxy-Warnings` entry of the provider's (`<field>: <what happened>`, the chat form's
   * field) → the same entry naming the client's field: `user: not supported by gemini, ignored`
   * becomes `metadata.user_id: …`. An entry that names no field it knows is left as it is.
   */
  mapWarning(warning: string, rewritten: boolean): string {
    const end = warning.indexOf(': ');
    if (end <= 0) return warning;
    const param = warning.slice(0, end);
    const mapped = this.map(param, rewritten);
    return mapped === param ? warning : mapped + warning.slice(end);
  }

  /** A 400 naming a chat-side param → the same error naming the client's, in its param and in its message. */
  mapError(error: unknown, rewritten: boolean): unknown {
    if (!isGatewayError(error) || error.status !== 400 || error.param === null) return error;
    const param = this.map(error.param, rewritten);
    if (param === error.param) return error;
    // A function, not a string: `$` in a path would be read as a replacement pattern.
    return error.with({ message: error.message.replace(`'${error.param}'`, () => `'${param}'`), param });
  }
}
