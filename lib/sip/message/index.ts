export * from './errors.js';
export * from './header-names.js';
export * from './header-values.js';
export * from './message.js';
export * from './parser.js';
export * from './serializer.js';
export * from './uri.js';
