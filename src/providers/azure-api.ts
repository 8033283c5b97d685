// Azure OpenAI's two APIs and their request paths. The deployment API puts the deployment in the
// path and takes a dated `api-version`; the v1 API (GA August 2025) is OpenAI's paths under
// {endpoint}/openai/v1 with the deployment as the body's `model`, and an api-version of `v1` (its
// default, not sent) or `preview`. Both take the key as `api-key`.
// @see https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle
// @see https://github.com/Azure/azure-rest-api-specs/tree/main/specification/ai/data-plane/OpenAI.v1

export const AZURE_DEFAULT_API_VERSION = '2024-10-21';

/** The v1 API's api-version values (its spec's `v1` and `preview`; `latest` from its preview months). */
const V1_API_VERSIONS = new Set(['v1', 'preview', 'latest']);

/** The v1 API's base path, below the resource's endpoint. */
const V1_BASE_PATH = /\/openai\/v1$/;

/**
 * Whether an Azure provider's settings select the v1 API: an api_version of the v1 API, or none with an
 * endpoint ending in /openai/v1 (the openai client's base_url in Microsoft's v1 samples). A dated
 * api_version keeps the deployment API whatever the endpoint ends with: the v1 paths refuse it.
 * `endpointPath` is the configured endpoint's path without a trailing slash.
 */
export function selectsAzureV1Api(apiVersion: string | undefined, endpointPath: string): boolean {
  return apiVersion === undefined ? V1_BASE_PATH.test(endpointPath) : V1_API_VERSIONS.has(apiVersion);
}

/** Whether an Azure provider's base URL (as the registry built it) is the v1 API's. */
export function usesAzureV1Api(baseUrl: URL): boolean {
  return V1_BASE_PATH.test(baseUrl.pathname);
}

/**
 * Whether an Azure `api-version` takes the fields OpenAI added in 2024 (`stream_options`,
 * `max_completion_tokens`): from 2024-09-01-preview (GA 2024-10-21) on, and the
 * v1 API's `preview`/`latest`. Older ones (2024-08-01-preview, 2024-06-01, 2024-02-01, …) answer 400
 * "Unrecognized request argument supplied: stream_options" (or `max_completion_tokens`).
 */
export function azureTakesNewFields(apiVersion: string | undefined): boolean {
  const dated = /^(\d{4}-\d{2}-\d{2})/.exec(apiVersion ?? AZURE_DEFAULT_API_VERSION);
  return dated === null || (dated[1] as string) >= '2024-09-01';
}

export interface AzureApi {
  /** The v1 API: the provider's base URL ends in /openai/v1. */
  v1: boolean;
  /** The configured `api-version`. */
  apiVersion: string | undefined;
}

/**
 * The path of an operation (`chat/completions`, `embeddings`, `completions`) on a deployment,
 * relative to the provider's base URL: the resource's endpoint, or its /openai/v1 for the v1 API
 * (which sends no api-version unless one other than its default `v1` is configured).
 */
export function azurePath(operation: string, deployment: string, api: AzureApi): string {
  if (api.v1) return api.apiVersion === undefined || api.apiVersion === 'v1' ? `/${operation}` : `/${operation}?api-version=${encodeURIComponent(api.apiVersion)}`;
  return `/openai/deployments/${encodeURIComponent(deployment)}/${operation}?api-version=${encodeURIComponent(api.apiVersion ?? AZURE_DEFAULT_API_VERSION)}`;
}
