// Runs edge/normalize.js exactly as deployed (no exports added, nothing transpiled or polyfilled)
// against edge/vectors.json under njs, the nginx JavaScript engine the CloudFront Functions
// runtime is built on: a feature Node accepts but njs rejects fails here, not at deploy time.
//   njs edge/normalize.njs.js [edge-dir]
// Prints one FAIL line per failing vector, then "njs <version>: checked N vectors, F failed";
// any failure (or a source njs cannot load) ends in a thrown error, so njs exits non-zero.
// Plain ES5 on purpose: this file must itself load on any njs. (A *.njs.js name: `node --test edge/`
// does not pick it up.) pytest tests/unit/test_negotiation.py runs it.

var fs = require('fs');

var dir = process.argv[2] || process.argv[1].replace(/[^\/]*$/, '') || './';
if (dir.charAt(dir.length - 1) !== '/') {
    dir += '/';
}
var source = fs.readFileSync(dir + 'normalize.js', 'utf8');
var shared = JSON.parse(fs.readFileSync(dir + 'vectors.json', 'utf8'));

// The source runs unchanged as the body of a fresh function (njs has no eval); one line appended
// after it hands back the names the deployed code defines, as Node's vm context exposes them.
function load() {
    var fn;
    try {
        fn = new Function(source + '\n;return { handler: handler, STEPS: STEPS, DEFAULT_WIDTH: DEFAULT_WIDTH };');
    } catch (e) {
        throw new Error('njs cannot load edge/normalize.js (line numbers are the file\'s): ' + e);
    }
    return fn();
}

function entries(map) {
    var out = {};
    Object.keys(map).forEach(function (name) {
        var value = map[name];
        if (Array.isArray(value)) {
            out[name] = {
                value: value[0],
                multiValue: value.map(function (v) { return { value: v }; }),
            };
        } else {
            out[name] = { value: value };
        }
    });
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

// JSON with sorted keys, for comparing plain values.
function canonical(value) {
    if (value === undefined) {
        return 'undefined';
    }
    if (value === null || typeof value !== 'object') {
        return JSON.stringify(value);
    }
    if (Array.isArray(value)) {
        return '[' + value.map(canonical).join(',') + ']';
    }
    return '{' + Object.keys(value).sort().map(function (k) {
        return JSON.stringify(k) + ':' + canonical(value[k]);
    }).join(',') + '}';
}

function check(vector) {
    var result = load().handler(event(vector.request));
    var expect = vector.expect;
    var problems = [];
    function same(what, actual, expected) {
        if (canonical(actual) !== canonical(expected)) {
            problems.push(what + ' ' + canonical(actual) + ', expected ' + canonical(expected));
        }
    }
    if (result === null || typeof result !== 'object') {
        return ['handler returned ' + canonical(result)];
    }
    if (expect.status !== undefined) {
        same('statusCode', result.statusCode, expect.status);
    } else {
        same('statusCode', result.statusCode, undefined);
        same('uri', result.uri, expect.uri);
        same('querystring', result.querystring, expect.querystring);
        same('method', result.method, 'GET');
    }
    return problems;
}

var failed = 0;
var checked = 0;

var fn = load();
if (canonical(Array.prototype.slice.call(fn.STEPS)) !== canonical(shared.steps)
        || fn.DEFAULT_WIDTH !== shared.default_width) {
    failed++;
    console.log('FAIL width steps/default: normalize.js has ' + canonical(fn.STEPS) + ' / '
        + fn.DEFAULT_WIDTH + ', vectors.json ' + canonical(shared.steps) + ' / ' + shared.default_width);
}

shared.vectors.forEach(function (vector) {
    var problems;
    checked++;
    try {
        problems = check(vector);
    } catch (e) {
        problems = ['threw ' + (e && e.stack ? e.stack : e)];
    }
    if (problems.length) {
        failed++;
        console.log('FAIL ' + vector.name + ': ' + problems.join('; '));
    }
});

console.log('njs ' + njs.version + ': checked ' + checked + ' vectors, ' + failed + ' failed');
if (failed) {
    throw new Error(failed + ' check(s) failed under njs');
}
