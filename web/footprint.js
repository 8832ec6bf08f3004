/*
 * footprint web map.  The data (window.FOOTPRINT_MAP, from data.js) holds
 * views (an edition as on a day, with the edition answering each tier of
 * the chain that day) and layers (simplified GeoJSON with each footprint's
 * facts).  A click answers the whole chain at that point from the layers,
 * so the page needs no server.
 *
 * Every value from the data reaches the page as text (textContent, text
 * nodes, DOM elements handed to Leaflet), never as HTML: a footprint may be
 * named "<img src=x onerror=alert(1)>" and must show as just that.
 *
 * Layers come as scripts (layers/N.js calls FOOTPRINT_LAYER): a view's own
 * layer first, so the map is drawn at once, then those its chain needs.
 * Script elements rather than fetch(), which browsers refuse on file://.
 *
 * Test hook: index.html#view=EDITION&click=LAT,LON clicks that point (a
 * real DOM click at its place on the screen) once the map and its chain
 * layers are loaded.
 */
(function () {
    'use strict';
    var M = window.FOOTPRINT_MAP;
    if (!M || !window.L) {
        document.body.appendChild(text('p', 'fp-noscript',
            'The map data or Leaflet is missing: regenerate this folder with footprint leaflet.'));
        return;
    }
    var PALETTE = ['#8dd3c7', '#ffffb3', '#bebada', '#fb8072', '#80b1d3', '#fdb462',
                   '#b3de69', '#fccde5'];
    var TIER_LABEL = {
        region: 'NHS region', system: 'ICB / STP', ics: 'ICS (first wave)',
        place: 'Place (ICP)', sub: 'Sub-ICB location / CCG', la: 'Local authority'
    };

    /* ---- DOM, text only ---- */

    function text(tag, cls, s) {
        var e = document.createElement(tag);
        if (cls) e.className = cls;
        if (s !== undefined && s !== null) e.textContent = String(s);
        return e;
    }

    function within(day, from, to) {
        return (!from || day >= from) && (!to || day <= to);
    }

    /* ---- geometry: even-odd containment over every ring ---- */

    function boxOf(geom) {
        var b = [Infinity, Infinity, -Infinity, -Infinity];
        var polys = geom.type === 'Polygon' ? [geom.coordinates] : geom.coordinates;
        polys.forEach(function (poly) {
            poly.forEach(function (ring) {
                ring.forEach(function (p) {
                    if (p[0] < b[0]) b[0] = p[0];
                    if (p[1] < b[1]) b[1] = p[1];
                    if (p[0] > b[2]) b[2] = p[0];
                    if (p[1] > b[3]) b[3] = p[1];
                });
            });
        });
        return b;
    }

    function contains(feature, x, y) {
        var g = feature.geometry;
        if (!g) return false;
        var b = feature._box || (feature._box = boxOf(g));
        if (x < b[0] || x > b[2] || y < b[1] || y > b[3]) return false;
        var polys = g.type === 'Polygon' ? [g.coordinates] : g.coordinates;
        var inside = false;
        for (var i = 0; i < polys.length; i++) {
            for (var r = 0; r < polys[i].length; r++) {
                var ring = polys[i][r];
                for (var k = 0, j = ring.length - 1; k < ring.length; j = k++) {
                    var a = ring[k], c = ring[j];
                    if ((a[1] > y) !== (c[1] > y) &&
                        x < (c[0] - a[0]) * (y - a[1]) / (c[1] - a[1]) + a[0])
                        inside = !inside;
                }
            }
        }
        return inside;
    }

    /* ---- loading layers ---- */

    var waiting = {};

    function settle(id) {
        var cbs = waiting[id] || [];
        delete waiting[id];
        cbs.forEach(function (cb) { cb(); });
    }

    window.FOOTPRINT_LAYER = function (id, geojson) {
        if (!M.layers[id]) return;
        M.layers[id].geojson = geojson;
        settle(id);
    };

    function load(id, cb) {
        var layer = M.layers[id];
        if (!layer || layer.geojson || layer.failed) { cb(); return; }
        if (waiting[id]) { waiting[id].push(cb); return; }
        waiting[id] = [cb];
        var s = document.createElement('script');
        s.src = layer.file;
        s.onerror = function () { layer.failed = true; settle(id); };
        document.head.appendChild(s);
    }

    function tierLayers(view) {
        return M.tiers.map(function (t) { return view.tiers[t]; })
            .filter(function (id) { return !!id; });
    }

    function loadAll(ids, cb) {
        var n = ids.length;
        if (!n) { cb(); return; }
        ids.forEach(function (id) { load(id, function () { if (--n === 0) cb(); }); });
    }

    function footprintAt(layerId, day, lat, lon) {
        var layer = M.layers[layerId];
        if (!layer || !layer.geojson) return null;
        var fs = layer.geojson.features;
        for (var i = 0; i < fs.length; i++) {
            var p = fs[i].properties;
            if (within(day, p.valid_from, p.valid_to) && contains(fs[i], lon, lat)) return fs[i];
        }
        return null;
    }

    /* The parent region of a system footprint on a day, or null: of the
     * facts valid that day the latest-starting, as the library picks. */
    function parentOf(code, day) {
        var ps = M.parents[code] || [], best = null;
        for (var i = 0; i < ps.length; i++)
            if (within(day, ps[i].from, ps[i].to) && (!best || ps[i].from > best.from))
                best = ps[i];
        return best;
    }

    /* The chain on the view's day: one row per tier, as footprint which.
     * The region is the system footprint's parent (regions are made of
     * whole ICBs and STPs); region polygons only where there is none. */
    function chainAt(view, lat, lon) {
        var rows = M.tiers.map(function (tier) {
            return { tier: tier, layer: view.tiers[tier] ? M.layers[view.tiers[tier]] : null, props: null };
        });
        rows.forEach(function (row) {
            if (row.tier === 'region') return;
            var f = row.layer ? footprintAt(view.tiers[row.tier], view.day, lat, lon) : null;
            row.props = f ? f.properties : null;
        });
        var region = rows[0], system = rows[1];
        var p = system.props ? parentOf(system.props.code, view.day) : null;
        if (p) {
            region.props = { code: p.code, name: p.name };
            region.layer = null;
            region.parent = true;
        } else if (region.layer) {
            var f = footprintAt(view.tiers.region, view.day, lat, lon);
            region.props = f ? f.properties : null;
        }
        return rows;
    }

    function chainTable(view, lat, lon) {
        var table = text('table', 'fp-chain');
        table.appendChild(text('caption', null,
            lat.toFixed(5) + ', ' + lon.toFixed(5) + ' on ' + view.day));
        var body = document.createElement('tbody');
        var any = false;
        chainAt(view, lat, lon).forEach(function (row) {
            var tr = document.createElement('tr');
            tr.appendChild(text('th', null, TIER_LABEL[row.tier] || row.tier));
            var td = document.createElement('td');
            if (row.props) {
                any = true;
                td.appendChild(text('span', 'fp-name', row.props.name));
                var code = ' ' + row.props.code + (row.props.ods_code ? ', ODS ' + row.props.ods_code : '');
                td.appendChild(text('span', 'fp-code', code));
                td.appendChild(text('span', 'fp-ed', row.layer ? row.layer.name : 'parent of the ICB / STP'));
            } else {
                td.appendChild(text('span', 'fp-none', '—'));
            }
            tr.appendChild(td);
            body.appendChild(tr);
        });
        table.appendChild(body);
        var div = document.createElement('div');
        div.appendChild(table);
        if (!any) div.appendChild(text('p', 'fp-none', 'No footprint covers this point.'));
        /* The licence of every layer the answer came from, each statement
         * once (they differ mostly in their years). */
        var seen = {}, parts = [];
        tierLayers(view).forEach(function (id) {
            M.layers[id].attribution.split('; ').forEach(function (p) {
                if (!seen[p]) { seen[p] = true; parts.push(p); }
            });
        });
        div.appendChild(text('p', 'fp-sources', parts.join('; ')));
        return div;
    }

    /* ---- the map ---- */

    var map = L.map('map', { zoomSnap: 0.25, attributionControl: false, minZoom: 4 });
    var current = null, shown = null, marker = null, byCode = {};

    function styleOf(layer) {
        return function (f) {
            var c = layer.colours[f.properties.code] || 0;
            return { color: '#4a5560', weight: 1, fillColor: PALETTE[c % PALETTE.length],
                     fillOpacity: 0.65 };
        };
    }

    function showChain(latlng) {
        var view = current;
        var popup = L.popup({ maxWidth: 460 }).setLatLng(latlng)
            .setContent(text('div', 'fp-none', 'Loading…')).openOn(map);
        loadAll(tierLayers(view), function () {
            if (current === view) popup.setContent(chainTable(view, latlng.lat, latlng.lng));
        });
    }

    /* Hover: the footprint under the pointer, in a box of its own. */
    var Info = L.Control.extend({
        onAdd: function () {
            this._div = text('div', 'fp-panel fp-info');
            this.update(null);
            return this._div;
        },
        update: function (p) {
            var d = this._div;
            d.textContent = '';
            if (!p) {
                d.appendChild(text('div', null, 'Hover over a footprint; click for its chain.'));
                return;
            }
            d.appendChild(text('strong', null, p.name));
            d.appendChild(text('div', 'fp-code', p.code + (p.ods_code ? ' · ODS ' + p.ods_code : '')));
        }
    });
    var info = new Info({ position: 'topright' });

    function highlight(e) {
        var l = e.target;
        l.setStyle({ weight: 3, color: '#1d2228', fillOpacity: 0.8 });
        l.bringToFront();
        info.update(l.feature.properties);
    }

    function unhighlight(e) {
        if (shown) shown.resetStyle(e.target);
        info.update(null);
    }

    function showView(index, then) {
        var view = current = M.views[index];
        var layer = M.layers[view.edition];
        map.closePopup();
        attribution.update(view);
        document.title = view.name + ' — ' + M.title;
        load(view.edition, function () {
            if (current !== view) return;
            if (shown) map.removeLayer(shown);
            byCode = {};
            if (!layer.geojson) {
                legend.failed(view);
                return;
            }
            shown = L.geoJSON(layer.geojson, {
                filter: function (f) {
                    return within(view.day, f.properties.valid_from, f.properties.valid_to);
                },
                style: styleOf(layer),
                onEachFeature: function (f, l) {
                    byCode[f.properties.code] = l;
                    l.on({ mouseover: highlight, mouseout: unhighlight });
                }
            }).addTo(map);
            legend.update(layer, view);
            if (then) then();
            loadAll(tierLayers(view), function () {}); /* ready for clicks */
        });
    }

    /* Layer switcher: one radio button a view. */
    var Views = L.Control.extend({
        onAdd: function () {
            var div = text('div', 'fp-panel fp-views');
            div.appendChild(text('h2', null, M.title));
            var fs = document.createElement('fieldset');
            fs.appendChild(text('legend', null, 'Footprints'));
            M.views.forEach(function (v, i) {
                var label = document.createElement('label');
                var input = document.createElement('input');
                input.type = 'radio';
                input.name = 'fp-view';
                input.value = v.edition;
                input.checked = i === 0;
                input.addEventListener('change', function () { showView(i, null); });
                label.appendChild(input);
                label.appendChild(document.createTextNode(v.name + ' '));
                label.appendChild(text('span', 'fp-day', v.day));
                fs.appendChild(label);
            });
            div.appendChild(fs);
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            this._div = div;
            return div;
        },
        select: function (i) {
            var inputs = this._div.querySelectorAll('input');
            if (inputs[i]) inputs[i].checked = true;
        }
    });

    /* Go to a latitude, longitude and show the chain there. */
    var Search = L.Control.extend({
        onAdd: function () {
            var div = text('div', 'fp-panel fp-search');
            var form = document.createElement('form');
            var input = document.createElement('input');
            input.type = 'text';
            input.placeholder = 'lat, lon  e.g. 53.381, -1.470';
            input.setAttribute('aria-label', 'Latitude, longitude');
            var button = text('button', null, 'Go');
            button.type = 'submit';
            var msg = text('div', 'fp-msg');
            form.appendChild(input);
            form.appendChild(button);
            div.appendChild(form);
            div.appendChild(msg);
            form.addEventListener('submit', function (ev) {
                ev.preventDefault();
                var m = /^\s*(-?\d+(?:\.\d+)?)\s*[,\s]\s*(-?\d+(?:\.\d+)?)\s*$/.exec(input.value);
                var lat = m ? parseFloat(m[1]) : NaN, lon = m ? parseFloat(m[2]) : NaN;
                if (!(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180)) {
                    msg.textContent = 'Type a latitude and a longitude, e.g. 53.381, -1.470';
                    return;
                }
                msg.textContent = '';
                var ll = L.latLng(lat, lon);
                if (marker) map.removeLayer(marker);
                marker = L.circleMarker(ll, { radius: 6, color: '#a3261b', weight: 2,
                                              fillOpacity: 0.9 }).addTo(map);
                map.setView(ll, Math.max(map.getZoom(), 9));
                showChain(ll);
            });
            L.DomEvent.disableClickPropagation(div);
            return div;
        }
    });

    /* Legend: the footprints of the view, with their colours. */
    var Legend = L.Control.extend({
        onAdd: function () {
            this._div = text('div', 'fp-panel fp-legend');
            L.DomEvent.disableClickPropagation(this._div);
            L.DomEvent.disableScrollPropagation(this._div);
            return this._div;
        },
        failed: function (view) {
            this._div.textContent = '';
            this._div.appendChild(text('p', 'fp-msg', 'Could not load ' + view.name + '.'));
        },
        update: function (layer, view) {
            var d = this._div;
            d.textContent = '';
            d.appendChild(text('h2', null, view.name));
            var ul = document.createElement('ul');
            layer.geojson.features.forEach(function (f) {
                var p = f.properties;
                if (!within(view.day, p.valid_from, p.valid_to)) return;
                var li = document.createElement('li');
                var sw = text('span', 'fp-swatch');
                sw.style.background = PALETTE[(layer.colours[p.code] || 0) % PALETTE.length];
                li.appendChild(sw);
                li.appendChild(text('span', null, p.name));
                li.title = p.code;
                li.addEventListener('mouseenter', function () {
                    var l = byCode[p.code];
                    if (l) highlight({ target: l });
                });
                li.addEventListener('mouseleave', function () {
                    var l = byCode[p.code];
                    if (l) unhighlight({ target: l });
                });
                ul.appendChild(li);
            });
            d.appendChild(ul);
            d.appendChild(text('p', 'fp-note', 'Neighbours differ in colour; colours carry ' +
                                               'no other meaning.'));
        }
    });

    /* The Open Government Licence attribution of what is shown. */
    var Attribution = L.Control.extend({
        onAdd: function () {
            this._div = text('div', 'fp-attribution');
            return this._div;
        },
        update: function (view) {
            /* The boundaries drawn; a click's answer names its own. */
            this._div.textContent = M.layers[view.edition].attribution + ' · Map: Leaflet';
        }
    });

    /* A click anywhere (on a footprint or not) answers the chain there. */
    map.on('click', function (e) { showChain(e.latlng); });

    var views = new Views({ position: 'topleft' });
    var legend = new Legend({ position: 'bottomleft' });
    var attribution = new Attribution({ position: 'bottomright' });
    views.addTo(map);
    new Search({ position: 'topleft' }).addTo(map);
    info.addTo(map);
    legend.addTo(map);
    attribution.addTo(map);
    L.control.scale({ position: 'bottomright', imperial: false }).addTo(map);

    /* ---- start: the view and click the address asks for ---- */

    var hash = {};
    location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
        var i = kv.indexOf('=');
        if (i <= 0) return;
        try {
            hash[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1));
        } catch (e) { /* a malformed address: ignore that part */ }
    });
    var first = 0;
    M.views.forEach(function (v, i) { if (v.edition === hash.view) first = i; });
    views.select(first);

    function clickAt(lat, lon) {
        var pt = map.latLngToContainerPoint([lat, lon]);
        var box = map.getContainer().getBoundingClientRect();
        var x = box.left + pt.x, y = box.top + pt.y;
        var target = document.elementFromPoint(x, y) || map.getContainer();
        target.dispatchEvent(new MouseEvent('click', {
            bubbles: true, cancelable: true, view: window, clientX: x, clientY: y, button: 0
        }));
    }

    showView(first, function () {
        map.fitBounds(shown.getBounds(), { padding: [10, 10] });
        /* Milliseconds from navigation to a drawn, usable map; then to the
         * chain layers loaded as well. */
        document.body.setAttribute('data-ready-ms', String(Math.round(performance.now())));
        loadAll(tierLayers(current), function () {
            document.body.setAttribute('data-chain-ms', String(Math.round(performance.now())));
            var m = /^(-?[\d.]+),(-?[\d.]+)$/.exec(hash.click || '');
            if (!m) return;
            var lat = parseFloat(m[1]), lon = parseFloat(m[2]);
            map.setView([lat, lon], 11, { animate: false });
            clickAt(lat, lon);
        });
    });
})();
