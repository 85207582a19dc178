// chatbotmgr::dashboard: the web dashboard of API.md section 17, compiled into the library.
//
// The dashboard is a client of the HTTP API and nothing more: static files (HTML, CSS and
// JavaScript modules) that talk to /api/v1 with the session cookie. It has no routes of its
// own besides those files, so everything it can do goes through the Api's checks.
//
// Paths: "/" answers the page (Cache-Control: no-store), "/assets/<hash>/<file>" its
// assets (Cache-Control: public, max-age=31536000, immutable; <hash> changes with any
// asset's content). Every answer has a strong ETag (If-None-Match gives 304) and the
// headers of API.md section 17: the Content-Security-Policy below,
// X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer. Only GET and HEAD are
// answered; any other method, and every other path, is left to the caller (nullopt).
//
// Mounting it beside an Api on chatbotmgr::beast::Server:
//
//     beast::ServerOptions options;
//     options.fallback = chatbotmgr::dashboard::handler();
//
// A host with its own HTTP server calls answer() for the targets handles() accepts.
// The page calls the API at /api/v1 on its own origin, so it must be served at the root of
// the origin the Api's public_origin names.
//
// Threading: every function may be called from many threads at once; none blocks.
#pragma once

#include <optional>
#include <string_view>

#include "chatbotmgr/beast/api.hpp"
#include "chatbotmgr/beast/server.hpp"

namespace chatbotmgr::dashboard {

// The Content-Security-Policy of every dashboard answer (API.md section 17).
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

// True for the dashboard's paths: "/" and everything under "/assets/" (an unknown asset
// is answered 404 with the dashboard's headers). The query is ignored.
bool handles(std::string_view target) noexcept;

// The answer to a GET or HEAD of one of the dashboard's paths (HEAD: the GET answer
// without its body); nullopt for another path or method.
std::optional<beast::Api::Response> answer(const beast::Api::Request& request);

// answer() as a beast::ServerOptions::fallback.
beast::FallbackHandler handler();

}  // namespace chatbotmgr::dashboard
