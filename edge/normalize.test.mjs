// Runs edge/normalize.js exactly as deployed (no exports added) against edge/vectors.json.
//   node --test edge/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const here = new URL('.', import.meta.url);
const source = readFileSync(new URL('normalize.js', here), 'utf8');
const { steps, default_width: defaultWidth, vectors } = JSON.parse(readFileSync(new URL('vectors.json', here), 'utf8'));

function load() {
    const context = vm.createContext({});
    vm.runInContext(source, context, { filename: 'normalize.js' });
    return context;
}

function entries(map) {
    const out = {};
    for (const [name, value] of Object.entries(map)) {
        out[name] = Array.isArray(value)
            ? { value: value[0], multiValue: value.map((v) => ({ value: v })) }
            : { value };
    }
    return out;
}

function event(request) {
    return {
        version: '1.0',
        context: { eventType: 'viewer-request', distributionDomainName: 'd111111abcdef8.cloudfront.net' },
        viewer: { ip: '198.51.100.7' },
        request: {
            method: 'GET',
            uri: request.uri,
            querystring: entries(request.querystring),
            headers: entries(request.headers),
            cookies: {},
        },
    };
}

test('the function and the vectors agree on the width steps', () => {
    const fn = load();
    assert.deepEqual(Array.from(fn.STEPS), steps);
    assert.equal(fn.DEFAULT_WIDTH, defaultWidth);
});

test('the function stays within the CloudFront Functions size limit (10 KB)', () => {
    assert.ok(Buffer.byteLength(source) < 10 * 1024);
});

for (const vector of vectors) {
    test(vector.name, () => {
        const result = load().handler(event(vector.request));
        if (vector.expect.status) {
            assert.equal(result.statusCode, vector.expect.status);
        } else {
            assert.equal(result.statusCode, undefined);
            assert.equal(result.uri, vector.expect.uri);
            assert.deepEqual({ ...result.querystring }, vector.expect.querystring);
            assert.equal(result.method, 'GET');
        }
    });
}
