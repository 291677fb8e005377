// Drives `edgerag serve` over loopback with the official OpenAI client:
// chat, streaming chat, completions, embeddings, model list and errors.
// Usage: node openai_client.test.mjs EDGERAG_BINARY SHARED_MODELS_DIR
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const [bin, models] = process.argv.slice(2);
const server = spawn(bin, ['serve', '-m', `${models}/stories260K.gguf`, '--embed', `${models}/synth-bert-embed.gguf`,
  '--host', '127.0.0.1', '--port', '0', '--api-key', 'test-key', '--threads', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
const killer = setTimeout(() => { server.kill(); console.error('timeout'); process.exit(1); }, 60000);

const port = await new Promise((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    if (m) resolve(Number(m[1]));
  });
  server.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
});

try {
  const client = new OpenAI({ apiKey: 'test-key', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });

  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), ['stories260K', 'synth-bert-embed']);

  const messages = [{ role: 'user', content: 'Once upon a time' }];
  const chat = await client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 24, temperature: 0 });
  const text = chat.choices[0].message.content;
  assert.ok(text.length > 0);
  assert.equal(chat.choices[0].finish_reason, 'length');
  assert.equal(chat.usage.completion_tokens, 24);

  const stream = await client.chat.completions.create({
    model: 'stories260K', messages, max_tokens: 24, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  let streamed = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    if (!chunk.choices.length) continue;
    streamed += chunk.choices[0].delta.content ?? '';
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  assert.equal(streamed, text, 'streamed chat equals the non-streamed answer (greedy)');
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 24);

  const completion = await client.completions.create({
    model: 'stories260K', prompt: 'Once upon a time', max_tokens: 32, temperature: 0,
  });
  assert.equal(completion.choices[0].text,
    ', there was a little girl named Lily. She loved to play outside in the park. One day, she saw');

  // The client asks for base64 by default and decodes it; both forms must agree.
  const emb = await client.embeddings.create({ model: 'synth-bert-embed', input: ['hello world', 'a cat'] });
  const embFloat = await client.embeddings.create({ model: 'synth-bert-embed', input: 'hello world', encoding_format: 'float' });
  assert.equal(emb.data.length, 2);
  assert.ok(emb.data[0].embedding.length > 0);
  assert.deepEqual(emb.data[0].embedding, embFloat.data[0].embedding);
  const norm = Math.hypot(...emb.data[1].embedding);
  assert.ok(Math.abs(norm - 1) < 1e-4, `embeddings are L2-normalized (norm ${norm})`);

  await assert.rejects(client.chat.completions.create({ model: 'stories260K', messages, temperature: 9 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
  await assert.rejects(client.chat.completions.create({ model: 'nope', messages }),
    (e) => e instanceof OpenAI.NotFoundError);
  const anonymous = new OpenAI({ apiKey: 'wrong', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
  await assert.rejects(anonymous.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
  console.log('openai client tests passed');
} finally {
  clearTimeout(killer);
  server.kill('SIGTERM');
}
