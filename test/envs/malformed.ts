/** Malformed action texts every env must treat as invalid steps, never exceptions. */
export const MALFORMED_ACTIONS: string[] = [
  '',
  '   ',
  'x'.repeat(10_240),
  'up '.repeat(3_500),
  'click[no-such-element-here]',
  'search[',
  'click]oops[',
  'jump',
  'propose[',
  '\u0000\u0001\u0002',
  '{"action": "???"}',
  '[]',
];
