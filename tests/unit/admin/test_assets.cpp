#include <doctest/doctest.h>

#include <regex>
#include <string>

#include "admin/assets.hpp"

using namespace pw;

TEST_CASE("admin assets: the page files are embedded with their content types") {
  const auto html = admin::find_asset("index.html");
  const auto js = admin::find_asset("app.js");
  const auto css = admin::find_asset("app.css");
  REQUIRE(html);
  REQUIRE(js);
  REQUIRE(css);
  CHECK(html->content_type == "text/html; charset=utf-8");
  CHECK(js->content_type == "text/javascript; charset=utf-8");
  CHECK(css->content_type == "text/css; charset=utf-8");
  CHECK(html->body.find("<!doctype html>") == 0);
  CHECK(js->body.find("pw-jobs-rendered") != std::string_view::npos);
  CHECK(css->body.find("@media") != std::string_view::npos);

  CHECK_FALSE(admin::find_asset(""));
  CHECK_FALSE(admin::find_asset("../index.html"));
  CHECK_FALSE(admin::find_asset("/index.html"));
  CHECK_FALSE(admin::find_asset("INDEX.HTML"));
}

TEST_CASE("admin assets: index.html loads only its own script and style from the same origin") {
  const auto html = admin::find_asset("index.html");
  REQUIRE(html);
  const std::string page(html->body);

  // Every src= and href= names one of the two assets by an absolute path on
  // this origin (no scheme, no other host, nothing the CSP would block), or
  // is the empty data: icon that spares the browser a /favicon.ico request.
  const std::regex reference(R"re(\b(src|href)\s*=\s*"([^"]*)")re", std::regex::icase);
  int scripts = 0;
  int styles = 0;
  for (auto it = std::sregex_iterator(page.begin(), page.end(), reference); it != std::sregex_iterator(); ++it) {
    const std::string target = (*it)[2];
    INFO("reference: " << target);
    CHECK((target == "/admin/app.js" || target == "/admin/app.css" || target == "data:,"));
    if (target == "/admin/app.js") ++scripts;
    if (target == "/admin/app.css") ++styles;
  }
  CHECK(scripts == 1);
  CHECK(styles == 1);

  // The CSP allows no inline code: every <script> has a src, there is no
  // <style> element, no style= attribute and no on...= handler.
  const std::regex script_tag(R"re(<script\b[^>]*>)re", std::regex::icase);
  for (auto it = std::sregex_iterator(page.begin(), page.end(), script_tag); it != std::sregex_iterator(); ++it) {
    CHECK(it->str().find("src=") != std::string::npos);
  }
  CHECK_FALSE(std::regex_search(page, std::regex(R"re(<style\b)re", std::regex::icase)));
  CHECK_FALSE(std::regex_search(page, std::regex(R"re(\sstyle\s*=)re", std::regex::icase)));
  CHECK_FALSE(std::regex_search(page, std::regex(R"re(\son[a-z]+\s*=)re", std::regex::icase)));
}

TEST_CASE("admin assets: the script never parses data as HTML") {
  const auto js = admin::find_asset("app.js");
  REQUIRE(js);
  // Values reach the page through textContent and createElement only.
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                           "new Function", "setAttribute(\"style\"", ".style."}) {
    INFO("sink: " << sink);
    CHECK(js->body.find(sink) == std::string_view::npos);
  }
}
