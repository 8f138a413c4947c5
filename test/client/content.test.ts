/** The typed content envelope inside the ciphertext: round trips, padding, rejection. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PADDING_BLOCK, decodeContent, encodeContent, type Content } from '../../client/e2ee/index.ts';

const samples: Content[] = [
  { type: 'text', text: 'hello 👋' },
  { type: 'receipt', status: 'read', messageIds: ['a', 'b'] },
  { type: 'typing', action: 'stopped' },
  { type: 'media', media: { id: 'blob', key: new Uint8Array(32).fill(1), digest: new Uint8Array(32).fill(2), size: 10, contentType: 'image/png', caption: 'c' } },
  { type: 'reaction', messageId: 'm', emoji: '👍' },
  { type: 'delete', messageId: 'm' },
];

test('content - every content kind round-trips with the sender clock', () => {
  for (const c of samples) {
    const decoded = decodeContent(encodeContent(c, 1_700_000_000_123));
    assert.deepEqual(decoded.content.type, c.type);
    assert.equal(decoded.sentAt, 1_700_000_000_123);
    if (c.type === 'media' && decoded.content.type === 'media') {
      assert.deepEqual(new Uint8Array(decoded.content.media.key), c.media.key);
      assert.equal(decoded.content.media.caption, 'c');
    } else {
      assert.deepEqual(decoded.content, c);
    }
  }
});

test('content - padding hides the kind: typing, receipt and short text have the same size', () => {
  const sizes = new Set(samples.filter((c) => c.type !== 'media').map((c) => encodeContent(c).length));
  assert.deepEqual([...sizes], [PADDING_BLOCK]);
  assert.equal(encodeContent({ type: 'text', text: 'x'.repeat(200) }).length % PADDING_BLOCK, 0);
});

test('content - garbage, bad padding and unknown kinds are rejected', () => {
  assert.throws(() => decodeContent(new Uint8Array(160)), /padding/);
  assert.throws(() => decodeContent(Uint8Array.from([1, 2, 3])), /padding/);
  const unknown = encodeContent({ type: 'bogus' } as unknown as Content);
  assert.throws(() => decodeContent(unknown), /known version and type/);
});
