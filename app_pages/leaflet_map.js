// A folium map drawn in the page itself, without a frame (app_pages/mapview.py).
//
// `data` (built once per map by mapview.prepare): `script`, folium's map script as
// streamlit-folium renders it, its map made with `L.map(__root, ...)`; `styles`, the CSS of
// its header that only concerns maps; `css_links` and `js_links`, Leaflet and its plugins on
// the app's own server; `height` in pixels; `returned_objects`, the interactions sent back to
// Python (last_clicked, last_object_clicked, last_active_drawing, all_drawings), with the
// meaning streamlit-folium gives them, sent as the state `interactions` when they change;
// `default`, their values before any; `sig`, the map's identity.
//
// A call with the map already drawn leaves it as it is (the browser keeps its view).

const pending = new Map(); // url -> Promise, each file added once to the page's head
const live = new Set(); // maps drawn, removed once their element has left the page

function load(tag, url) {
  if (!pending.has(url)) {
    pending.set(url, new Promise((resolve, reject) => {
      const attr = tag === "link" ? "href" : "src";
      const el = document.createElement(tag);
      if (tag === "link") el.rel = "stylesheet";
      else el.async = false;
      el.onload = () => resolve();
      el.onerror = () => reject(new Error("not loaded: " + url));
      el.setAttribute(attr, url);
      document.head.appendChild(el);
    }));
  }
  return pending.get(url);
}

function addStyles(css) {
  if (!css) return;
  for (const el of document.head.querySelectorAll("style[data-ptce-map]")) {
    if (el.textContent === css) return;
  }
  const style = document.createElement("style");
  style.dataset.ptceMap = "1";
  style.textContent = css;
  document.head.appendChild(style);
}

function sweep() {
  for (const map of live) {
    if (!map.getContainer().isConnected) {
      map.remove();
      live.delete(map);
    }
  }
}

function plain(latlng) {
  return latlng ? { lat: latlng.lat, lng: latlng.lng } : null;
}

function follow(map, drawnItems, data, setStateValue) {
  const seen = {
    last_clicked: null, last_object_clicked: null, last_active_drawing: null, all_drawings: null,
  };
  const pick = (from) => {
    const value = {};
    for (const name of data.returned_objects || []) value[name] = from[name] === undefined ? null : from[name];
    return value;
  };
  let previous = JSON.stringify(pick(data.default || {}));
  let timer = null;
  const send = () => {
    const value = pick(seen);
    const text = JSON.stringify(value);
    if (text !== previous) {
      previous = text;
      setStateValue("interactions", value);
    }
  };
  const later = () => { clearTimeout(timer); timer = setTimeout(send, 250); };
  const onObject = (e) => {
    seen.last_object_clicked = plain(e.latlng);
    if (e.layer && typeof e.layer.toGeoJSON === "function") seen.last_active_drawing = e.layer.toGeoJSON();
    seen.all_drawings = drawnItems && typeof drawnItems.toGeoJSON === "function"
      ? drawnItems.toGeoJSON().features : [];
    later();
  };
  map.on("click", (e) => { seen.last_clicked = plain(e.latlng); later(); });
  for (const id in map._layers) {
    const layer = map._layers[id];
    if (layer && typeof layer.on === "function") layer.on("click", onObject);
  }
  map.on("draw:created draw:edited draw:deleted", onObject);
}

export default function (component) {
  const { parentElement, data, setStateValue } = component;
  sweep();
  let root = parentElement.querySelector(":scope > .ptce-map");
  if (root && root.dataset.sig === data.sig) return;
  if (root) {
    if (root.ptceMap) {
      root.ptceMap.remove();
      live.delete(root.ptceMap);
    }
    root.remove();
  }
  root = document.createElement("div");
  root.className = "ptce-map";
  root.dataset.sig = data.sig;
  root.style.position = "relative";
  root.style.width = "100%";
  root.style.height = data.height + "px";
  parentElement.appendChild(root);
  // Leaflet's style sheet first, then the map's rules (which override some of it)
  for (const url of data.css_links || []) load("link", url).catch((e) => console.warn(e.message));
  addStyles(data.styles);
  (async () => {
    for (const url of data.js_links || []) await load("script", url);
    if (!root.isConnected || root.dataset.sig !== data.sig) return;
    // Leaflet focuses the map on a press (for its keys) and then restores the window's scroll;
    // Streamlit's page scrolls in an element of its own, which the focus would move (a map
    // whose foot is below the window jumps by a few lines under the pointer, and the click
    // turns into a drag that selects nothing): the map takes the focus without scrolling
    root.focus = (options) => HTMLElement.prototype.focus.call(root, { ...(options || {}), preventScroll: true });
    const draw = new Function("__root", data.script);
    const [map, drawnItems] = draw(root);
    root.ptceMap = map;
    live.add(map);
    follow(map, drawnItems, data, setStateValue);
  })().catch((e) => console.error("ptce_geo map:", e));
}
