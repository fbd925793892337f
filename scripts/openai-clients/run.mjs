import OpenAI from "openai";
import { ChatOpenAI } from "@langchain/openai";
import { generateText, streamText } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";

const baseURL = "http://127.0.0.1:18080/v1", apiKey = "sk-clients-0123456789", model = "toy";
const want = "Well, *** it: the printer jammed again. What the ***!";
let failed = 0;
async function check(name, f) {
  try {
    const text = await f();
    const ok = text === want;
    if (!ok) failed++;
    console.log(`${ok ? "ok  " : "FAIL"} ${name}: ${JSON.stringify(text)}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message ?? e}`);
  }
}
const client = new OpenAI({ baseURL, apiKey });
await check("openai chat", async () => (await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] })).choices[0].message.content);
await check("openai chat stream", async () => { let t = ""; for await (const c of await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { include_usage: true } })) t += c.choices[0]?.delta?.content ?? ""; return t; });
await check("openai responses", async () => (await client.responses.create({ model, input: "hi", max_output_tokens: 64 })).output_text);
await check("openai responses stream", async () => { let t = ""; for await (const e of await client.responses.create({ model, input: "hi", stream: true })) if (e.type === "response.output_text.delta") t += e.delta; return t; });
await check("openai completions", async () => (await client.completions.create({ model, prompt: "hi", max_tokens: 64 })).choices[0].text);
await check("openai completions stream", async () => { let t = ""; for await (const c of await client.completions.create({ model, prompt: "hi", max_tokens: 64, stream: true })) t += c.choices[0]?.text ?? ""; return t; });
await check("openai chat json_schema", async () => { const r = await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object", properties: { a: { type: "boolean" } }, required: ["a"], additionalProperties: false }, strict: true } } }); JSON.parse(r.choices[0].message.content); return want; });
await check("openai chat logprobs", async () => { const r = await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], logprobs: true, top_logprobs: 2 }); const toks = r.choices[0].logprobs?.content ?? []; const j = toks.map(t => t.token).join(""); if (j !== r.choices[0].message.content) throw new Error("logprobs join to " + JSON.stringify(j)); return r.choices[0].message.content; });

const lc = new ChatOpenAI({ model, apiKey, configuration: { baseURL } });
await check("langchain invoke", async () => (await lc.invoke("hi")).content);
await check("langchain stream", async () => { let t = ""; for await (const c of await lc.stream("hi")) t += c.content; return t; });
const lcu = new ChatOpenAI({ model, apiKey, configuration: { baseURL }, streamUsage: true });
await check("langchain stream usage", async () => { let t = ""; for await (const c of await lcu.stream("hi")) t += c.content; return t; });
const lcr = new ChatOpenAI({ model, apiKey, configuration: { baseURL }, useResponsesApi: true });
await check("langchain responses api", async () => { const m = await lcr.invoke("hi"); return typeof m.content === "string" ? m.content : m.content.map(p => p.text ?? "").join(""); });

const oa = createOpenAI({ baseURL, apiKey });
await check("ai-sdk openai(model) generate (responses)", async () => (await generateText({ model: oa(model), prompt: "hi" })).text);
await check("ai-sdk openai(model) stream (responses)", async () => { const r = streamText({ model: oa(model), prompt: "hi" }); let t = ""; for await (const d of r.textStream) t += d; return t; });
await check("ai-sdk openai.chat generate", async () => (await generateText({ model: oa.chat(model), prompt: "hi" })).text);
await check("ai-sdk openai.completion generate", async () => (await generateText({ model: oa.completion(model), prompt: "hi" })).text);
const compat = createOpenAICompatible({ name: "sieve", baseURL, apiKey });
await check("ai-sdk compatible generate", async () => (await generateText({ model: compat(model), prompt: "hi" })).text);
await check("ai-sdk compatible stream", async () => { const r = streamText({ model: compat(model), prompt: "hi" }); let t = ""; for await (const d of r.textStream) t += d; return t; });
console.log(failed ? `${failed} failed` : "all passed");
process.exit(failed ? 1 : 0);
