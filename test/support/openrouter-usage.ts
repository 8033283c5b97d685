// OpenRouter's chat usage as its API schema (ChatUsage, for answers and the last stream chunk) names
// it: the searches are under `server_tool_use_details`, not LiteLLM's `server_tool_use`.
// @see https://openrouter.ai/docs/api/api-reference/chat/create-a-chat-completion (ChatUsage, ServerToolUseDetails)

/** OpenRouter's usage object as its schema has it; `searches` set only when the call searched. */
export function openRouterUsage(searches: number | undefined): Record<string, unknown> {
  return {
    prompt_tokens: 1210,
    completion_tokens: 188,
    total_tokens: 1398,
    cost: 0.0256,
    is_byok: false,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    cost_details: { upstream_inference_cost: null, upstream_inference_prompt_cost: 0.003025, upstream_inference_completions_cost: 0.00188 },
    completion_tokens_details: { reasoning_tokens: 0, image_tokens: 0 },
    ...(searches === undefined ? {} : { server_tool_use_details: { tool_calls_requested: searches + 1, tool_calls_executed: searches + 1, web_search_requests: searches } }),
  };
}
