// Package client points the sampling of an MCP host built on the reference Go
// SDK (github.com/modelcontextprotocol/go-sdk, v1.8.0) at Airlock.
//
// A Forwarder's CreateMessage and CreateMessageWithTools methods have the
// signatures of the SDK's ClientOptions.CreateMessageHandler and
// ClientOptions.CreateMessageWithToolsHandler. Each forwards the request to
// Airlock's POST /v1/sampling with the token of the server the session is
// connected to and the session's negotiated protocol version, and returns
// Airlock's answer. A refusal comes back as the SDK's *jsonrpc.Error with
// Airlock's code, message and data, so a policy refusal reaches the server as
// JSON-RPC code -1, the code of a user's rejection.
//
//	air, err := client.New(client.Config{URL: "https://airlock.internal:8443",
//		Tokens: map[string]string{"github": githubToken}})
//	c := mcp.NewClient(impl, &mcp.ClientOptions{CreateMessageWithToolsHandler: air.CreateMessageWithTools})
//	cs, err := air.Connect(ctx, c, "github", transport, nil)
//
// # Both protocol styles, one handler
//
// Up to 2025-11-25 the server sends sampling/createMessage to the client; the
// SDK calls the handler and puts its result or error on the wire. From
// 2026-07-28 the server answers a tools/call, prompts/get or resources/read
// with an input_required result whose inputRequests hold the sampling
// requests; the SDK v1.8.0 implements this (SEP-2322) itself: its default
// client middleware calls the same handler for each request and retries the
// call with inputResponses, the requestState and a new JSON-RPC id, for at
// most 10 rounds. Nothing here reimplements that loop. What the wire of
// 2026-07-28 cannot carry is a refusal: inputResponses hold results only, so
// when Airlock refuses, the SDK does not retry and the host's CallTool
// returns an error wrapping the *jsonrpc.Error; Reason extracts Airlock's
// reason from it. The server sees no answer, not a -1.
//
// # Which token
//
// Airlock charges a request to the server whose token it carries, so the
// token must come from the host's own knowledge of the connection, never from
// what the server says about itself: a server's Implementation.Name is
// self-reported, and a malicious server can claim any name. Connect records
// the host's name for a session and Config.Tokens maps it to the token;
// Config.Resolve serves sessions the host connects itself.
//
// # What the SDK's types lose, and what is recovered
//
// The handlers receive the SDK's decoded params, which blur some values:
// temperature, the model preference priorities and annotation priorities are
// float64 with omitempty, so 0 is indistinguishable from absent; isError
// false is dropped; a message's _meta and any field the SDK does not model
// are gone; CreateMessageHandler (unlike CreateMessageWithToolsHandler) also
// loses tools and toolChoice, and refuses messages with several content
// blocks. Re-encoded, such params send no temperature where the server asked
// for 0, so the provider's default applies instead of deterministic output.
//
// Connect recovers the request as the server sent it when the transport is
// one of the SDK's byte-stream transports (*mcp.CommandTransport,
// *mcp.StdioTransport, *mcp.IOTransport, *mcp.InMemoryTransport): it wraps
// the connection, keeps the raw params of each sampling request it reads
// (directly, or inside an input_required result), and the handler forwards
// those raw params when they decode to exactly the params the SDK handed it
// (so a client middleware that changes the params wins). Other transports
// are not wrapped: streamable HTTP and SSE connections implement unexported
// SDK hooks a wrapper would hide, and a transport the host wrapped itself
// (mcp.LoggingTransport) may too. For them, and for sessions connected
// without Connect, the SDK's re-encoded params are sent, with the losses
// above. Results lose nothing Airlock sends.
//
// Sample is the transport-independent call underneath, for hosts that speak
// JSON-RPC themselves.
package client
