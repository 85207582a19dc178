// Internal: the dashboard's files, as the generated dashboard_assets.cpp lists them.
#pragma once

#include <string_view>
#include <vector>

namespace chatbotmgr::dashboard::detail {

struct Asset {
    std::string_view path;          // "/" or "/assets/<hash>/<name>"
    std::string_view content_type;  // "text/javascript; charset=utf-8"
    std::string_view etag;          // strong, quoted: "\"<hex>\""
    std::string_view body;
    bool immutable;  // content-addressed path: cache for a year
};

// Every file, the page ("/") first.
const std::vector<Asset>& assets();

}  // namespace chatbotmgr::dashboard::detail
