// Package providers implements the broker's outbound ports: broker.Provider,
// which calls an LLM with a sanitized request, and broker.KeySource, which
// resolves the provider keys that call needs.
//
// OpenAI speaks the chat-completions API of OpenAI, Azure OpenAI and the
// compatible servers (vLLM, llama.cpp, Ollama): it translates MCP sampling
// params to a chat request and the answer back, retries what is worth
// retrying, and rotates a key the upstream rejects. Echo calls nothing and
// answers with the prompt it would have sent, so that a newcomer without a
// provider key sees what an LLM would receive.
//
// Keys resolve references, never literal keys: Env reads "env:NAME", File
// reads "file:/path", and Keys dispatches on the scheme. No error, log line or
// message of this package ever holds a key or an upstream's error body.
//
// The package imports broker and nothing else of Airlock; cmd/airlock wires
// it in.
package providers
