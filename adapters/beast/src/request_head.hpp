// Internal: the strict reading of a request head (RFC 9112) that Beast's parser leaves to
// its user. A request whose framing two HTTP implementations could read differently is
// refused with 400 and its connection closed, so that no byte after it can be taken for a
// request of its own (request smuggling).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

namespace chatbotmgr::beast::detail {

// The length of the header block at the start of data (request line, field lines and the
// empty line, CRLFs included); nullopt while it is incomplete. from: how much of data an
// earlier call has already searched (so a header that trickles in is searched once).
std::optional<std::size_t> header_block_length(std::string_view data, std::size_t from) noexcept;

// True when the start of a header block that is not complete yet is already not HTTP (a
// TLS hello, a bad method or request line): what Beast's parser would refuse at once, so
// that such a client gets its 400 now instead of after the header timeout.
bool hopeless_header_start(std::string_view data);

// True when a field line of a complete header block is continued on the next line (a CRLF
// followed by a space or a tab: obs-fold, RFC 9112 section 5.2), or the first field line
// starts with white space (section 2.2). Both are refused.
bool has_obs_fold(std::string_view header_block) noexcept;

// Why a parsed request head must be refused with 400; empty when it is fine:
//   - Transfer-Encoding, unless it is one field line that says exactly "chunked" in an
//     HTTP/1.1 request without Content-Length (RFC 9112 sections 6.1 and 6.3: chunked must
//     be the final coding, no other coding is supported, and Content-Length beside it is a
//     smuggling attempt, whatever the order of the fields);
//   - Host missing from an HTTP/1.1 request, more than one Host field line, or a Host value
//     that is not a host with an optional port (section 3.2).
std::string_view framing_error(const boost::beast::http::request_header<>& head);

// The origin-form of a request target: an absolute-form http or https target
// ("http://host:8080/p?q" -> "/p?q", "http://host" -> "/", RFC 9112 section 3.2.2) without
// its scheme and authority; any other target as it is. nullopt for an absolute-form target
// without a host or with user information ("http://user:pass@host/"), which is refused.
std::optional<std::string_view> origin_form(std::string_view target) noexcept;

}  // namespace chatbotmgr::beast::detail
