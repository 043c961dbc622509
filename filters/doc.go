// Package filters implements broker.Scanner: it inspects and sanitizes the
// sampling traffic that crosses Airlock's trust boundary, in both
// directions.
//
// On the way in, Scanner.Input finds secrets (over 200 credential formats:
// cloud, code hosting and CI, chat, payment and SaaS, LLM provider keys,
// private keys, JWTs, passwords in URLs, headers and assignments),
// personal data (e-mail addresses, phone numbers, payment cards, IBANs,
// SSNs, IP and MAC addresses) and prompt-injection signals in every text
// of a request: the system prompt, messages, tool inputs and results, and
// tool descriptions. Secrets and personal data are replaced according to
// the server's Policy, by default with placeholders such as [EMAIL_1] that
// the provider sees instead of the value. Injection signals are scored,
// and the request is blocked, flagged or spotlighted when the score
// reaches the policy's threshold. Tool results and resources are content
// to read, not to obey: there, an instruction about the model's answer or
// a task handed to the model is enough to reach the threshold, where in
// the user's own message it is an ordinary request.
//
// On the way out, Session.Output puts this request's values back in place
// of their placeholders (and only this request's), masks secrets and
// personal data the model produced on its own, and removes links and images
// that would carry data to other hosts. When the policy asks, it also
// refuses output that leaks a canary planted in the system prompt (or a
// run of the prompt's words), and runs HarmClassifier, a lexicon scorer of
// OpenAI's moderation categories. Moderator is the extension point for
// further output checks.
//
// The engine scans a text once for all rules' keywords with an
// Aho-Corasick automaton; only the rules whose keywords occur run, and only
// on windows around the hits, so the cost of a rule set grows with what the
// text holds rather than with the number of rules. Rules are values
// (Rule) that Options.Rules can extend. Text that is not ASCII is first
// stripped of invisible characters (zero-width, bidirectional controls,
// Unicode tags) and put in NFKC form; when that changed a text that then
// needed redacting, the normalised text is what is sent on, so that spans
// found in it apply to what the provider receives.
//
// Findings never hold the values they describe: their Fingerprint is a
// keyed HMAC, so that equal values can be correlated across the audit log.
// cmd/airlock builds a Scanner from its configuration and gives it to the
// broker.
package filters
