// Package broker is the heart of Airlock: the MCP sampling types, the request
// pipeline and the small interfaces it consumes.
//
// A sampling/createMessage request crosses a trust boundary: an untrusted MCP
// server asks the host to run an LLM on its behalf. The pipeline authenticates
// the caller, validates the request against the schema of its protocol
// version, applies the server's policy, sanitizes the input, reserves the
// worst-case cost, chooses a model, calls the provider, moderates and restores
// the output, settles the real cost and records an audit event.
//
// The adapters live elsewhere: filters/ implements Scanner, providers/
// implements Provider and KeySource, quota/ implements Quota. Only
// cmd/airlock imports them all and wires them together.
package broker
