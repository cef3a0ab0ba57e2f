// The official npm clients against `ingot serve`: OpenAI (chat and
// completions, streaming and not) and Ollama (generate and chat), then 32
// concurrent streaming clients whose greedy outputs must equal the ones each
// prompt gets alone. usage: node clients.mjs BASE_URL MODEL
import OpenAI from 'openai';
import { Ollama } from 'ollama';

const [base, model] = process.argv.slice(2);
const openai = new OpenAI({ baseURL: base + '/v1', apiKey: 'unused' });
const ollama = new Ollama({ host: base });
let fails = 0;
const check = (name, ok, detail = '') => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : ' ' + detail}`);
  if (!ok) fails++;
};

const prompt = 'Once upon a time';
const chat = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: prompt }], max_tokens: 24, temperature: 0 });
const text = chat.choices[0].message.content;
check('openai chat: text, usage and finish_reason', text.length > 0 && chat.usage.completion_tokens === 24 &&
  chat.choices[0].finish_reason === 'length' && chat.usage.prompt_tokens > 0, JSON.stringify(chat));

let streamed = '', finish = null, chunks = 0;
const stream = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: prompt }], max_tokens: 24, temperature: 0, stream: true });
for await (const c of stream) {
  chunks++;
  streamed += c.choices[0]?.delta?.content ?? '';
  finish = c.choices[0]?.finish_reason ?? finish;
}
check('openai chat stream: the deltas add up to the same text', streamed === text && finish === 'length' && chunks > 3, `${JSON.stringify(streamed)} vs ${JSON.stringify(text)}`);

const comp = await openai.completions.create({ model, prompt, max_tokens: 16, temperature: 0 });
let cs = '';
for await (const c of await openai.completions.create({ model, prompt, max_tokens: 16, temperature: 0, stream: true })) cs += c.choices[0].text;
check('openai completions, streaming and not, agree', comp.choices[0].text.length > 0 && cs === comp.choices[0].text, `${cs} vs ${comp.choices[0].text}`);

const lp = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: prompt }], max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 3 });
const l0 = lp.choices[0].logprobs?.content?.[0];
check('openai logprobs: greedy token is the top one', l0 && l0.top_logprobs.length === 3 && l0.logprob <= 0 &&
  Math.abs(l0.logprob - l0.top_logprobs[0].logprob) < 1e-6, JSON.stringify(lp.choices[0].logprobs));

const stop = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: prompt }], max_tokens: 24, temperature: 0, stop: [' girl'] });
check('openai stop string: cut before it, finish_reason stop', !stop.choices[0].message.content.includes(' girl') &&
  text.startsWith(stop.choices[0].message.content) && stop.choices[0].finish_reason === 'stop', JSON.stringify(stop.choices[0]));

const models = await openai.models.list();
check('openai models list', Array.isArray(models.data), JSON.stringify(models));

try {
  await openai.chat.completions.create({ model: 'no/such-model', messages: [{ role: 'user', content: 'x' }] });
  check('openai unknown model is a 404', false);
} catch (e) { check('openai unknown model is a 404 naming it', e.status === 404 && /no\/such-model/.test(e.message), e.message); }

const g = await ollama.generate({ model, prompt, stream: false, raw: true, options: { num_predict: 12, temperature: 0 } });
check('ollama generate: text and Ollama timing fields', g.done && g.response.length > 0 && g.eval_count === 12 &&
  g.prompt_eval_count > 0 && g.total_duration > 0 && g.done_reason === 'length', JSON.stringify(g));
let gs = '';
for await (const part of await ollama.generate({ model, prompt, stream: true, raw: true, options: { num_predict: 12, temperature: 0 } })) gs += part.response;
check('ollama generate stream equals non-stream', gs === g.response, `${gs} vs ${g.response}`);
const oc = await ollama.chat({ model, messages: [{ role: 'user', content: prompt }], stream: false, options: { num_predict: 10, temperature: 0 } });
let ocs = '';
for await (const part of await ollama.chat({ model, messages: [{ role: 'user', content: prompt }], stream: true, options: { num_predict: 10, temperature: 0 } })) ocs += part.message.content;
check('ollama chat, streaming and not, agree', oc.message.role === 'assistant' && oc.message.content.length > 0 && ocs === oc.message.content, `${ocs} vs ${oc.message.content}`);
const ps = await ollama.ps();
check('ollama ps lists the loaded model', ps.models.some(m => m.name === model), JSON.stringify(ps));
const ver = await (await fetch(base + '/api/version')).json();
check('GET /api/version', typeof ver.version === 'string', JSON.stringify(ver));

// 32 concurrent streaming clients, greedy: each equals its prompt run alone
const prompts = Array.from({ length: 32 }, (_, i) => `Once upon a time there was a ${['cat', 'dog', 'girl', 'boy'][i % 4]} named ${'ABCDEFGH'[i % 8]}`);
const alone = [];
for (const p of prompts.slice(0, 8)) {
  const r = await openai.completions.create({ model, prompt: p, max_tokens: 40, temperature: 0 });
  alone.push(r.choices[0].text);
}
const t0 = Date.now();
const results = await Promise.all(prompts.map(async (p) => {
  let s = '', n = 0;
  for await (const c of await openai.completions.create({ model, prompt: p, max_tokens: 40, temperature: 0, stream: true, stream_options: { include_usage: true } })) {
    s += c.choices[0]?.text ?? '';
    if (c.usage) n = c.usage.completion_tokens;
  }
  return { s, n };
}));
const secs = (Date.now() - t0) / 1000;
const same = results.every((r, i) => r.s === alone[i % 8] && r.n === 40);
check(`32 concurrent streaming clients: complete and equal to each prompt alone (${(32 * 40 / secs).toFixed(0)} tok/s aggregate)`, same,
  JSON.stringify(results.map((r, i) => [r.s === alone[i % 8], r.n]).filter(x => !x[0] || x[1] !== 40).slice(0, 4)));
console.log(`${fails} failed`);
process.exit(fails ? 1 : 0);
