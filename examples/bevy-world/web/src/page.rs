//! What the page learns from where it was loaded: the world's WebSocket
//! URL and the user.

use wasm_bindgen::JsValue;

/// `ws://{the page's host}:{port}/realtime/{resource}`, with `port` and
/// `resource` from `window.BEVY_WORLD`, which the server's `/world.js`
/// sets. An error in words when the page was not served by
/// `bevy-world-server --site`.
pub fn world_url() -> Result<String, String> {
    let window = web_sys::window().ok_or("no window")?;
    let world = js_sys::Reflect::get(&window, &JsValue::from_str("BEVY_WORLD"))
        .ok()
        .filter(JsValue::is_object)
        .ok_or("window.BEVY_WORLD is not set: open this page from bevy-world-server --site")?;
    let field = |name: &str| js_sys::Reflect::get(&world, &JsValue::from_str(name)).ok();
    let port = field("port")
        .and_then(|p| p.as_f64())
        .ok_or("window.BEVY_WORLD has no port")?;
    let resource = field("resource")
        .and_then(|r| r.as_string())
        .ok_or("window.BEVY_WORLD has no resource")?;
    let host = window
        .location()
        .hostname()
        .map_err(|_| "the page has no host name")?;
    Ok(format!("ws://{host}:{port}/realtime/{resource}"))
}

/// `?user=NAME` of the page's address, or `viewer`.
pub fn user() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|search| web_sys::UrlSearchParams::new_with_str(&search).ok())
        .and_then(|params| params.get("user"))
        .filter(|user| !user.is_empty())
        .unwrap_or_else(|| "viewer".to_owned())
}
