import { isRecord } from '../../json/guards.js';
export { isRecord };
// Google Gemini (Generative Language API, v1beta) wire types: the GenerateContentRequest we build, the
// GenerateContentResponse we read (whole, and per `streamGenerateContent?alt=sse` event), the error body
// and the model list. REST JSON is camelCase. Only fields the proxy writes or reads are typed.
// @see https://ai.google.dev/api/generate-content
// @see https://ai.google.dev/api/caching#Content
// @see https://ai.google.dev/api/models

// ---- Request ----

export interface GeminiBlob {
  mimeType: string;
  /** base64 */
  data: string;
}

export interface GeminiFileData {
  fileUri: string;
  mimeType?: string;
}

export interface GeminiFunctionCall {
  name: string;
  args?: Record<string, unknown>;
  /** Sent by some models; the proxy makes its own ids (see convert-response). */
  id?: string;
}

export interface GeminiFunctionResponse {
  name: string;
  /** A JSON object: `output` carries the result by convention (`error` an error). */
  response: Record<string, unknown>;
  id?: string;
}

export interface GeminiPart {
  text?: string;
  /** A thought summary (only when `includeThoughts`); never shown as content. */
  thought?: boolean;
  /** Opaque, base64; Gemini 3 requires it back on function calls in history. */
  thoughtSignature?: string;
  inlineData?: GeminiBlob;
  fileData?: GeminiFileData;
  functionCall?: GeminiFunctionCall;
  functionResponse?: GeminiFunctionResponse;
}

export type GeminiRole = 'user' | 'model';

export interface GeminiContent {
  role?: GeminiRole;
  parts: GeminiPart[];
}

/** The OpenAPI subset Gemini accepts for `responseSchema` and function `parameters`. */
export interface GeminiSchema {
  type?: string;
  format?: string;
  title?: string;
  description?: string;
  nullable?: boolean;
  enum?: string[];
  items?: GeminiSchema;
  properties?: Record<string, GeminiSchema>;
  required?: string[];
  propertyOrdering?: string[];
  anyOf?: GeminiSchema[];
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
}

export interface GeminiFunctionDeclaration {
  name: string;
  description?: string;
  parameters?: GeminiSchema;
}

/** One of: function declarations, or Grounding with Google Search (`googleSearch: {}`, Gemini 2.0 and later). */
export interface GeminiTool {
  functionDeclarations?: GeminiFunctionDeclaration[];
  googleSearch?: Record<string, never>;
}

export type GeminiFunctionCallingMode = 'AUTO' | 'ANY' | 'NONE' | 'VALIDATED';

export interface GeminiToolConfig {
  functionCallingConfig: {
    mode: GeminiFunctionCallingMode;
    allowedFunctionNames?: string[];
  };
}

/** Gemini 3's thinking levels (each model takes some of them). */
export type GeminiThinkingLevel = 'minimal' | 'low' | 'medium' | 'high';

/** Either a budget (Gemini 2.5) or a level (Gemini 3 and later): Gemini refuses both at once. */
export interface GeminiThinkingConfig {
  thinkingBudget?: number;
  thinkingLevel?: GeminiThinkingLevel;
  /** Thought summaries in the answer, as parts marked `thought`. */
  includeThoughts?: boolean;
}

export interface GeminiGenerationConfig {
  stopSequences?: string[];
  responseMimeType?: string;
  responseSchema?: GeminiSchema;
  candidateCount?: number;
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  responseLogprobs?: boolean;
  logprobs?: number;
  thinkingConfig?: GeminiThinkingConfig;
  /** What the answer may hold; image models take `["TEXT", "IMAGE"]`. */
  responseModalities?: GeminiModality[];
}

export type GeminiModality = 'TEXT' | 'IMAGE' | 'AUDIO';

export interface GeminiGenerateContentRequest {
  contents: GeminiContent[];
  systemInstruction?: GeminiContent;
  tools?: GeminiTool[];
  toolConfig?: GeminiToolConfig;
  generationConfig?: GeminiGenerationConfig;
  cachedContent?: string;
}

// ---- Response ----

export type GeminiFinishReason =
  | 'FINISH_REASON_UNSPECIFIED'
  | 'STOP'
  | 'MAX_TOKENS'
  | 'SAFETY'
  | 'RECITATION'
  | 'LANGUAGE'
  | 'OTHER'
  | 'BLOCKLIST'
  | 'PROHIBITED_CONTENT'
  | 'SPII'
  | 'MALFORMED_FUNCTION_CALL'
  | 'IMAGE_SAFETY'
  | 'UNEXPECTED_TOOL_CALL'
  | 'TOO_MANY_TOOL_CALLS';

export type GeminiBlockReason = 'BLOCK_REASON_UNSPECIFIED' | 'SAFETY' | 'OTHER' | 'BLOCKLIST' | 'PROHIBITED_CONTENT' | 'IMAGE_SAFETY';

export interface GeminiSafetyRating {
  category: string;
  probability: string;
  blocked?: boolean;
}

export interface GeminiCandidate {
  /** Absent (or without parts) when the candidate was blocked or ended before any output. */
  content?: { role?: GeminiRole; parts?: GeminiPart[] };
  finishReason?: GeminiFinishReason | (string & {});
  finishMessage?: string;
  index?: number;
  safetyRatings?: GeminiSafetyRating[];
  avgLogprobs?: number;
  /** Present when the request set `responseLogprobs`. */
  logprobsResult?: GeminiLogprobsResult;
  /** Present when the answer was grounded with Google Search. */
  groundingMetadata?: GeminiGroundingMetadata;
}

/** A grounded answer's sources and which spans each supports. */
export interface GeminiGroundingMetadata {
  webSearchQueries?: string[];
  groundingChunks?: Array<{ web?: { uri?: string; title?: string } }>;
  groundingSupports?: Array<{
    /** Offsets are in bytes, into the part `partIndex`. */
    segment?: { startIndex?: number; endIndex?: number; partIndex?: number; text?: string };
    groundingChunkIndices?: number[];
    confidenceScores?: number[];
  }>;
  /** Google's rendered search suggestions (HTML), which its terms ask apps to show. */
  searchEntryPoint?: { renderedContent?: string };
}

export interface GeminiLogprobsCandidate {
  token?: string;
  tokenId?: number;
  logProbability?: number;
}

export interface GeminiLogprobsResult {
  /** One entry per generated token: the most likely alternatives, best first. */
  topCandidates?: Array<{ candidates?: GeminiLogprobsCandidate[] }>;
  /** One entry per generated token: the token chosen. */
  chosenCandidates?: GeminiLogprobsCandidate[];
}

export interface GeminiModalityTokenCount {
  modality: string;
  tokenCount: number;
}

export interface GeminiUsageMetadata {
  promptTokenCount?: number;
  cachedContentTokenCount?: number;
  candidatesTokenCount?: number;
  toolUsePromptTokenCount?: number;
  thoughtsTokenCount?: number;
  totalTokenCount?: number;
  promptTokensDetails?: GeminiModalityTokenCount[];
  candidatesTokensDetails?: GeminiModalityTokenCount[];
}

export interface GeminiPromptFeedback {
  blockReason?: GeminiBlockReason | (string & {});
  safetyRatings?: GeminiSafetyRating[];
}

/** A whole answer, and also each `data:` event of a stream (with the new parts only). */
export interface GeminiGenerateContentResponse {
  candidates?: GeminiCandidate[];
  promptFeedback?: GeminiPromptFeedback;
  usageMetadata?: GeminiUsageMetadata;
  modelVersion?: string;
  responseId?: string;
}

// ---- Errors ----

/** google.rpc.Status as JSON: the body of every non-2xx answer, and of an error mid-stream. */
export interface GeminiErrorResponse {
  error: {
    code: number;
    message: string;
    /** The canonical code name: INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE, ... */
    status: string;
    details?: Array<Record<string, unknown>>;
  };
}

// ---- Models ----

export interface GeminiModel {
  /** `models/<id>` */
  name: string;
  baseModelId?: string;
  version?: string;
  displayName?: string;
  description?: string;
  inputTokenLimit?: number;
  outputTokenLimit?: number;
  supportedGenerationMethods?: string[];
}

export interface GeminiModelList {
  models?: GeminiModel[];
  nextPageToken?: string;
}

// ---- Narrowing ----

function isOptionalCount(value: unknown): boolean {
  return value === undefined || (typeof value === 'number' && Number.isFinite(value) && value >= 0);
}

export function isGeminiUsage(value: unknown): value is GeminiUsageMetadata {
  return (
    isRecord(value) &&
    isOptionalCount(value.promptTokenCount) &&
    isOptionalCount(value.candidatesTokenCount) &&
    isOptionalCount(value.cachedContentTokenCount) &&
    isOptionalCount(value.thoughtsTokenCount) &&
    isOptionalCount(value.toolUsePromptTokenCount)
  );
}

function isCandidate(value: unknown): value is GeminiCandidate {
  if (!isRecord(value)) return false;
  if (value.finishReason !== undefined && typeof value.finishReason !== 'string') return false;
  // The index becomes the choice's: OpenAI's are non-negative integers (-1 or 0.5 reached clients as they came).
  if (value.index !== undefined && !(Number.isSafeInteger(value.index) && (value.index as number) >= 0)) return false;
  const content = value.content;
  if (content === undefined) return true;
  return isRecord(content) && (content.parts === undefined || (Array.isArray(content.parts) && content.parts.every(isRecord)));
}

/**
 * A GenerateContentResponse whose fields, where present, have the expected shape. Every field is
 * optional on the wire (a stream event may carry only usage); callers decide what must be there.
 */
export function isGeminiResponse(value: unknown): value is GeminiGenerateContentResponse {
  if (!isRecord(value) || value.error !== undefined) return false;
  if (value.candidates !== undefined && !(Array.isArray(value.candidates) && value.candidates.every(isCandidate))) return false;
  if (value.promptFeedback !== undefined && !isRecord(value.promptFeedback)) return false;
  return value.usageMetadata === undefined || isGeminiUsage(value.usageMetadata);
}

export function isGeminiError(value: unknown): value is GeminiErrorResponse {
  return isRecord(value) && isRecord(value.error) && typeof value.error.message === 'string';
}
