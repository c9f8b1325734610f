export * from './make-sdp-answer.ts';
export * from './make-sdp-offer.ts';
export * from './media-section.ts';
export * from './parse-sdp.ts';
export * from './sdp-fields.ts';
export * from './sdp-line.ts';
export * from './serialize-sdp.ts';
export * from './session-description.ts';
