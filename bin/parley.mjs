#!/usr/bin/env node
// Entry point of the `parley` command: loads TypeScript through tsx.
import { register } from 'tsx/esm/api';
register();
await import('../server/cli.ts');
