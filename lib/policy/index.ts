export * from './call-facts.js';
export * from './decide.js';
export * from './feature-codes.js';
export * from './membership.js';
export * from './number-index.js';
export * from './number-normalizer.js';
