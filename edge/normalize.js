// imagepipe viewer-request CloudFront Function (cloudfront-js-2.0) for the t/* behaviour.
//
// Turns /t/{asset_id}?w=&f=&dpr= (plus Accept and client hints), or the explicit form
// /t/{asset_id}/{width}w.{avif|webp|jpg|png}, into the one normalised path
// /public/{asset_id}/t/{width}w.{avif|webp|jpg|png} with no query string: the cache key holds the
// asset id and normalised parameters only, and the path is the variants-bucket key where the
// transform function stores what it renders (the origin group's S3 member serves it next time).
// Format: AVIF first, then WebP, then JPEG; PNG only when asked for by name (f=png or .png),
// never from Accept. Width: snapped up to the next allowed step.
//
// The same rule in Python: layers/core/imagepipe/delivery/negotiation.py. Both pass
// edge/vectors.json (node --test edge/, pytest tests/unit/test_negotiation.py).
// template.yaml embeds this file verbatim (a unit test keeps them equal).

var STEPS = [160, 320, 480, 640, 800, 960, 1280, 1600, 1920, 2560];
var DEFAULT_WIDTH = 640;
var MAX_DPR = 3;
var ASSET = '[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';
var BARE = new RegExp('^/t/(' + ASSET + ')/?$');
var EXPLICIT = new RegExp('^/t/(' + ASSET + ')/([1-9][0-9]{0,4})w\\.(avif|webp|jpg|png)$');
var WIDTH = /^[1-9][0-9]{0,4}$/;
var DPR = /^[0-9]{1,2}(\.[0-9]{1,3})?$/;
var QVALUE = /^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/;
var EXTENSION = { avif: 'avif', webp: 'webp', jpeg: 'jpg', png: 'png' };

function value(map, name) {
    var entry = map && map[name];
    return entry ? entry.value : undefined;
}

function snap(target) {
    for (var i = 0; i < STEPS.length; i++) {
        if (STEPS[i] >= target) {
            return STEPS[i];
        }
    }
    return STEPS[STEPS.length - 1];
}

function dpr(text) {
    if (text === undefined || !DPR.test(text)) {
        return 1;
    }
    return Math.min(MAX_DPR, Math.max(1, Number(text)));
}

function targetWidth(query, headers) {
    var w = value(query, 'w');
    if (w !== undefined && WIDTH.test(w)) {
        return Math.ceil(Number(w) * dpr(value(query, 'dpr')) - 1e-6);
    }
    var hinted = value(headers, 'sec-ch-width');
    if (hinted === undefined) {
        hinted = value(headers, 'width');
    }
    if (hinted !== undefined && WIDTH.test(hinted)) {
        return Number(hinted);
    }
    var ratio = value(headers, 'sec-ch-dpr');
    if (ratio === undefined) {
        ratio = value(headers, 'dpr');
    }
    return Math.ceil(DEFAULT_WIDTH * dpr(ratio) - 1e-6);
}

function accepted(accept) {
    var seen = {};
    var parts = (accept || '').split(',');
    for (var i = 0; i < parts.length; i++) {
        var pieces = parts[i].split(';');
        var media = pieces[0].trim().toLowerCase();
        var q = 1;
        for (var j = 1; j < pieces.length; j++) {
            var param = pieces[j].split('=');
            if (param[0].trim().toLowerCase() === 'q') {
                var text = (param[1] || '').trim();
                q = QVALUE.test(text) ? Number(text) : 0;
            }
        }
        if (q === 0) {
            seen[media] = 'refused';
        } else if (seen[media] !== 'refused') {
            seen[media] = 'ok';
        }
    }
    return seen;
}

function format(query, headers) {
    var asked = (value(query, 'f') || value(query, 'format') || '').toLowerCase();
    if (asked === 'jpg') {
        asked = 'jpeg';
    }
    if (EXTENSION[asked]) {
        return asked;
    }
    var types = accepted(value(headers, 'accept'));
    if (types['image/avif'] === 'ok') {
        return 'avif';
    }
    if (types['image/webp'] === 'ok') {
        return 'webp';
    }
    return 'jpeg';
}

function normalize(request) {
    var uri = request.uri;
    if (uri.indexOf('/t/') !== 0) {
        return request;
    }
    var width;
    var fmt;
    var id;
    var match = EXPLICIT.exec(uri);
    if (match) {
        id = match[1];
        width = snap(Number(match[2]));
        fmt = match[3] === 'jpg' ? 'jpeg' : match[3];
    } else {
        match = BARE.exec(uri);
        if (!match) {
            return { statusCode: 404, statusDescription: 'Not Found' };
        }
        id = match[1];
        width = snap(targetWidth(request.querystring, request.headers));
        fmt = format(request.querystring, request.headers);
    }
    request.uri = '/public/' + id + '/t/' + width + 'w.' + EXTENSION[fmt];
    request.querystring = {};
    return request;
}

function handler(event) {
    return normalize(event.request);
}
