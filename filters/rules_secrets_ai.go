package filters

import "strings"

// aiSecrets are the keys of LLM and machine-learning providers.
func aiSecrets() []secretDef {
	return []secretDef{
		def(tokenRule("openai-api-key", []string{"sk-"}, setB64URL, 20, 255, 0.85, func(t string) bool {
			return !strings.HasPrefix(t, "sk-ant-") && mixedCase(t)
		})).
			hit("OPENAI_API_KEY=«sk-proj-{a48}»", "«sk-{a48}»", "«sk-svcacct-{b58}T3BlbkFJ{b58}»", "«sk-{a20}T3BlbkFJ{a20}»").
			miss("pip install sk-learn-extra-utilities", "sk-{h32}"),
		def(tokenRule("anthropic-api-key", []string{"sk-ant-"}, setB64URL, 32, 255, 0.95, func(t string) bool {
			return !strings.HasPrefix(t, "sk-ant-admin")
		})).
			hit("ANTHROPIC_API_KEY=«sk-ant-api03-{b93}AA»"),
		def(prefixed("anthropic-admin-key", setB64URL, 95, 0, "sk-ant-admin01-")).
			hit(`anthropic_admin_key = "«sk-ant-admin01-{b93}AA»"`),
		def(keyedRule("cohere-api-key", []string{"cohere", "co_api_key"}, `[a-zA-Z0-9]{40}`, 4)).
			hit(`cohere_api_token = "«{a40}»"`, "export CO_API_KEY=«{a40}»").
			miss("CO_API_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
		def(keyedRule("mistral-api-key", []string{"mistral"}, `[A-Za-z0-9]{32}`, 3.5)).hit("MISTRAL_API_KEY=«{a32}»"),
		def(prefixed("groq-api-key", setAlnum, 52, 3.5, "gsk_")).hit("GROQ_API_KEY=«gsk_{a52}»"),
		def(prefixedRange("perplexity-api-key", setAlnum, 48, 64, 4, "pplx-")).hit("PERPLEXITY_API_KEY=«pplx-{a48}»"),
		def(prefixedRange("xai-api-key", setAlnum, 70, 90, 4, "xai-")).hit("XAI_API_KEY=«xai-{a80}»"),
		def(tokenRule("replicate-api-token", []string{"r8_"}, setAlnum, 30, 40, 0.95, mixedCase)).hit("REPLICATE_API_TOKEN=«r8_{a37}»"),
		def(Rule{ID: "together-api-key", Type: TypeSecret, Label: "SECRET", Keywords: []string{"tgp_v1_", "together"},
			Find: combine(
				(&tokenFinder{prefixes: []string{"tgp_v1_"}, body: setB64URL, min: 40, max: 64, conf: 0.95}).Find,
				keyedRule("", nil, `[a-f0-9]{64}`, 3).Find)}).
			hit("TOGETHER_API_KEY=«{h64}»", "«tgp_v1_{b43}»"),
		def(tokenRule("fireworks-api-key", []string{"fw_"}, setAlnum, 20, 48, 0.9, mixedCase)).hit("FIREWORKS_API_KEY=«fw_{a24}»").miss("fw_version = 2"),
		def(prefixed("deepseek-api-key", setHexLower, 32, 3, "sk-")).hit("DEEPSEEK_API_KEY=«sk-{h32}»"),
		def(prefixed("openrouter-api-key", setHexLower, 64, 3, "sk-or-v1-")).hit("OPENROUTER_API_KEY=«sk-or-v1-{h64}»"),
		def(tokenRule("huggingface-token", []string{"hf_", "api_org_"}, setAlnum, 30, 40, 0.9, func(t string) bool {
			var up, low bool
			for i := strings.IndexByte(t, '_') + 1; i < len(t); i++ {
				up = up || isUpper(t[i])
				low = low || 'a' <= t[i] && t[i] <= 'z'
			}
			return up && low
		})).
			hit("«hf_{a34}»", "HF_TOKEN=«hf_{X34}»", "«api_org_{X34}»").
			miss("from huggingface_hub import hf_hub_download", "hf_{l34}"),
		def(shapeRule("langsmith-api-key", []string{"lsv2_pt_", "lsv2_sk_"}, `\Alsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}`, 56, 0.95, nil)).
			hit("LANGSMITH_API_KEY=«lsv2_pt_{h32}_{h10}»"),
		def(shapeRule("langfuse-secret-key", []string{"sk-lf-"}, `\Ask-lf-`+uuidLower, 48, 0.95, nil)).
			hit("LANGFUSE_SECRET_KEY=«sk-lf-{h8}-{h4}-{h4}-{h4}-{h12}»"),
		def(prefixedRange("pinecone-api-key", setAlnumU, 40, 100, 4, "pcsk_")).hit("PINECONE_API_KEY=«pcsk_{a5}_{a60}»"),
		def(prefixed("nvidia-api-key", setB64URL, 64, 4, "nvapi-")).hit("NVIDIA_API_KEY=«nvapi-{b64}»"),
		def(prefixed("cerebras-api-key", setLowerNum, 48, 3.5, "csk-")).hit("CEREBRAS_API_KEY=«csk-{l48}»"),
		def(keyedRule("elevenlabs-api-key", []string{"elevenlabs", "eleven_labs", "xi-api-key"}, `sk_[a-f0-9]{48}|[a-f0-9]{32}`, 3)).
			hit("ELEVENLABS_API_KEY=«sk_{h48}»", `"xi-api-key": "«{h32}»"`),
		def(keyedRule("assemblyai-api-key", []string{"assemblyai", "assembly_ai"}, `[a-f0-9]{32}`, 3)).hit("ASSEMBLYAI_API_KEY=«{h32}»"),
		def(keyedRule("deepgram-api-key", []string{"deepgram"}, `[a-f0-9]{40}`, 3)).hit("DEEPGRAM_API_KEY=«{h40}»"),
		def(keyedRule("wandb-api-key", []string{"wandb"}, `[a-f0-9]{40}`, 3)).hit("WANDB_API_KEY=«{h40}»"),
		def(prefixedRange("anyscale-api-key", setAlnum, 20, 64, 3.5, "esecret_")).hit("ANYSCALE_API_KEY=«esecret_{a26}»"),
		def(keyedRule("voyage-api-key", []string{"voyage"}, `pa-[A-Za-z0-9_-]{40,64}`, 3.5)).hit("VOYAGE_API_KEY=«pa-{b43}»"),
		def(keyedRule("ai21-api-key", []string{"ai21"}, `[A-Za-z0-9]{32}`, 3.5)).hit("AI21_API_KEY=«{a32}»"),
		def(prefixedRange("jina-api-key", setB64URL, 60, 80, 4, "jina_")).hit("JINA_API_KEY=«jina_{b64}»"),
		def(keyedRule("privateai-api-key", []string{"privateai", "private_ai", "private-ai"}, `(?i)[a-z0-9]{32}`, 3)).hit("PRIVATE_AI_KEY=«{l32}»"),
	}
}
