// The shapes of the server's answers that the dashboard reads (see /openapi.json).

export interface Figures {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens: number;
  cost: number;
  errors: number;
  error_rate: number;
  cache_hits: number;
  avg_latency_ms: number | null;
  max_latency_ms: number | null;
}

export interface Timeseries {
  bucket: 'hour' | 'day';
  group_by: string;
  timestamps: number[];
  totals: Figures;
  series: Array<{
    group: string | null;
    requests: number[];
    prompt_tokens: number[];
    completion_tokens: number[];
    cost: number[];
    errors: number[];
    cache_hits: number[];
    avg_latency_ms: Array<number | null>;
  }>;
}

export type UsageGroup = Figures & { date?: string; key_id?: string; model?: string; provider?: string };

export interface UsageSummary {
  totals: Figures;
  group_by: string[];
  count: number;
  limit: number;
  offset: number;
  groups: UsageGroup[];
}

export interface UsageRecord {
  id: string;
  request_id: string;
  key_id: string;
  model: string;
  provider: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  cost: number | null;
  latency_ms: number;
  ttft_ms: number | null;
  status: string;
  http_status: number;
  error_code: string | null;
  stream: boolean;
  cache_hit: boolean;
  created_at: string;
}

export interface RecordPage {
  data: UsageRecord[];
  has_more: boolean;
  next_cursor: string | null;
}

export interface VirtualKey {
  id: string;
  name: string | null;
  masked_key: string;
  models: string[] | null;
  rpm_limit: number | null;
  tpm_limit: number | null;
  max_budget: number | null;
  budget_period: string | null;
  spend: number;
  total_spend: number;
  state: string;
  expires_at: string | null;
  revoked_at: string | null;
  created_at: string;
  /** Only in the answer that created it. */
  key?: string;
}

export interface Model {
  id: string;
  name: string;
  provider: string;
  supports_chat: boolean | null;
  supports_streaming: boolean | null;
  capabilities: string[];
  context_length: number | null;
  max_output_tokens: number | null;
  input_cost: number | null;
  output_cost: number | null;
  deprecated: boolean;
  alias_of: string | null;
}

export interface ModelPage {
  models: Model[];
  count: number;
  limit: number | null;
  offset: number;
}

export interface ProviderHealth {
  status: string;
  kind?: string;
  configured: boolean;
  models?: number;
  latency_ms?: number | null;
  error_rate?: number;
  in_flight?: number;
  requests?: number;
  reason?: string | null;
}

export interface CacheHealth {
  backend: string;
  status: string;
  entries: number;
  size_bytes: number;
  hits: number;
  misses: number;
  hit_rate: number;
}
