// Legacy completions passed through to hosts that still serve them: OpenAI, Azure's deployment API
// (`/openai/deployments/{d}/completions`; its v1 API has none), Ollama's OpenAI API, Together, Fireworks, DeepSeek's beta
// API (a base URL ending in /beta) and OpenAI-compatible servers (vLLM, llama.cpp, LM Studio).
// The body goes out as the client sent it, with the routed model; usage is always asked of a stream
// and shown only to clients that asked.
import { upstreamBadResponse, upstreamStreamError } from '../errors/gateway-error.js';
import { servedNatively, type NativeProtocol } from '../http/native-call.js';
import { azurePath, azureTakesNewFields, usesAzureV1Api } from '../providers/azure-api.js';
import { convertOpenAiStreamError } from '../providers/openai-compatible.js';
import type { ProviderInstance } from '../providers/provider.js';
import type { ModelGroup, ModelRouter } from '../routing/model-router.js';
import { encodeSseData, encodeSseJson, SSE_DONE } from '../streaming/sse-encoder.js';
import { isRecord } from '../json/guards.js';
import { readReportedUsage } from '../usage/reported-usage.js';

/** Whether this provider answers `POST …/completions` itself. */
export function servesCompletions(provider: ProviderInstance): boolean {
  switch (provider.kind) {
    case 'azure':
      // Azure's v1 API lists no /completions (its spec has chat/completions and embeddings only).
      return !usesAzureV1Api(provider.baseUrl);
    case 'openai':
    case 'ollama':
    case 'together':
    case 'fireworks':
    case 'openai-compatible':
      return true;
    case 'deepseek':
      // DeepSeek serves completions (FIM) only on its beta base URL.
      return /\/beta$/.test(provider.baseUrl.pathname);
    default:
      return false;
  }
}

/** Every deployment of the group and of the fallbacks the key may use serves completions natively. */
export function completionsNative(router: ModelRouter, group: ModelGroup, allowed: readonly string[] | undefined): boolean {
  return servedNatively(router, group, servesCompletions, allowed);
}

/** `apiVersions`: configured provider name → Azure `api-version`. */
export function completionsProtocol(body: Record<string, unknown>, clientUsage: boolean, apiVersions: (provider: string) => string | undefined): NativeProtocol {
  return {
    request(route, stream) {
      const provider = route.provider;
      const apiVersion = provider.kind === 'azure' ? apiVersions(provider.name) : undefined;
      const path = provider.kind === 'azure' ? azurePath('completions', route.upstreamModel, { v1: usesAzureV1Api(provider.baseUrl), apiVersion }) : '/completions';
      // An Azure api-version older than stream_options refuses the field: none is sent (usage is then estimated).
      if (provider.kind === 'azure' && !azureTakesNewFields(apiVersion)) {
        const { stream_options: _dropped, ...rest } = body;
        return { path, method: 'POST', headers: {}, body: JSON.stringify({ ...rest, model: route.upstreamModel, ...(stream ? { stream: true } : {}) }) };
      }
      const options = isRecord(body.stream_options) ? body.stream_options : {};
      const out = { ...body, model: route.upstreamModel, ...(stream ? { stream: true, stream_options: { ...options, include_usage: true } } : {}) };
      return { path, method: 'POST', headers: {}, body: JSON.stringify(out) };
    },
    readJson(parsed, route) {
      if (!isRecord(parsed) || !Array.isArray(parsed.choices)) throw upstreamBadResponse(route.provider.name, 'an answer that is not a text completion');
      return { usage: readReportedUsage(parsed.usage) };
    },
    readEvent(event, stats, route) {
      const data = event.data;
      if (data === '[DONE]') {
        stats.finished = true;
        stats.contentStarted = true;
        return SSE_DONE;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(data);
      } catch {
        throw upstreamStreamError(route.provider.name, 'an event that is not JSON');
      }
      if (!isRecord(parsed)) throw upstreamStreamError(route.provider.name, 'an event that is not a chunk');
      if (parsed.error !== undefined && parsed.error !== null) throw convertOpenAiStreamError(parsed, route.provider.name);
      // Each event is read anyway: one that is no chunk ends the stream with an error, as on chat.
      const choices = parsed.choices;
      if (!Array.isArray(choices)) throw upstreamStreamError(route.provider.name, 'an event that is not a chunk');
      for (const choice of choices) {
        if (!isRecord(choice)) continue;
        // Some hosts close without [DONE]; a finished choice is a complete answer.
        if (typeof choice.finish_reason === 'string') stats.finished = stats.contentStarted = true;
        else if (typeof choice.text === 'string' && choice.text.length > 0) stats.contentStarted = true;
      }
      const usage = readReportedUsage(parsed.usage);
      if (usage !== undefined) stats.usage = usage;
      // The usage the proxy asked for, not the client: a usage-only chunk is dropped, a usage field
      // removed, whether or not its counts could be read (one without them is still not the client's).
      if (!clientUsage && parsed.usage !== undefined && parsed.usage !== null) {
        if (choices.length === 0) return '';
        delete parsed.usage;
        return encodeSseJson(parsed);
      }
      return encodeSseData(data);
    },
    // A host that closes after the finish without `[DONE]` still gives the client its `[DONE]`, as chat does.
    closing: SSE_DONE,
  };
}
