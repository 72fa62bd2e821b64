// Integration and e2e tests drive a real cluster and real proxies: allow minutes, not seconds.
import { jest } from '@jest/globals';

jest.setTimeout(Number(process.env.TRELLIS_TEST_TIMEOUT_MS ?? 240_000));
