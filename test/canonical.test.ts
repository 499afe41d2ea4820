import { describe, expect, it } from 'vitest';
import { chainHash, GENESIS_HASH } from '../src/audit/chain.ts';
import { canonicalJson, encodeEvent } from '../src/audit/event.ts';

/** Known answers for the canonical form (RFC 8785) and the chain hash (docs/audit-log.md). */
describe('canonical JSON (RFC 8785)', () => {
  it('matches the RFC 8785 §3.2.2 sample', () => {
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    ) as unknown;
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts nested keys (cyberphone testdata/structures.json)', () => {
    const input = JSON.parse(
      '{"1":{"f":{"f":"hi","F":5},"\\n":56.0},"10":{},"":"empty","a":{},"111":[{}],"A":{}}',
    ) as unknown;
    expect(canonicalJson(input)).toBe(
      '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}',
    );
  });

  it('orders keys by UTF-16 code units, not code points', () => {
    const keys = ['\u20ac', '\r', '\ufb33', '1', '\ud83d\ude00', '\u0080', '\u00f6'];
    const text = canonicalJson(Object.fromEntries(keys.map((k) => [k, 0])));
    // Read the key order from the text: parsing would put the integer-like key "1" first.
    expect(text).toBe('{"\\r":0,"1":0,"\u0080":0,"\u00f6":0,"\u20ac":0,"\ud83d\ude00":0,"\ufb33":0}');
  });

  it('writes numbers as ECMAScript does', () => {
    const cases: [number, string][] = [
      [-0, '0'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [9.999999999999997e22, '9.999999999999997e+22'],
      [1e23, '1e+23'],
      [999999999999999700000, '999999999999999700000'],
      [1e21, '1e+21'],
      [333333333.3333332, '333333333.3333332'],
      [0.000001, '0.000001'],
      [9.999999999999997e-7, '9.999999999999997e-7'],
    ];
    for (const [value, text] of cases) expect(canonicalJson([value])).toBe(`[${text}]`);
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => canonicalJson({ x: Number.NaN })).toThrow();
    expect(() => canonicalJson({ x: Number.POSITIVE_INFINITY })).toThrow();
  });
});

describe('event encoding and the chain hash', () => {
  const event = {
    v: 1,
    seq: 1,
    time: '2026-11-26T00:00:00.000000Z',
    actor: 'system',
    action: 'policy.loaded',
    subject: null,
    body: {},
  };

  it('encodes an event with its seven keys in canonical order', () => {
    expect(encodeEvent(event)).toBe(
      '{"action":"policy.loaded","actor":"system","body":{},"seq":1,"subject":null,"time":"2026-11-26T00:00:00.000000Z","v":1}',
    );
  });

  it('hashes SHA-256(prev_hash ‖ canonical) from the 32-zero-byte genesis (value computed with Python hashlib)', () => {
    expect(chainHash(GENESIS_HASH, encodeEvent(event)).toString('hex')).toBe(
      '22b714a6affe72a63cab592d0595861657d3f3f3000779594b9f39ab2bb5daa1',
    );
  });
});
