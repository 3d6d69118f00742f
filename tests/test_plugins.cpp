#include "core/json.hpp"
#include "plugin/abi_record.hpp"
#include "plugin/registry.hpp"
#include "test_support.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <fstream>
#include <iterator>

using namespace prunelab;

TEST(Plugins, BuiltinsAreLoadedWithTheirKinds) {
  auto& r = test::builtin_registry();
  EXPECT_EQ(r.names(ComponentKind::Criterion),
            (std::vector<std::string>{"bn_scale", "fpgm", "magnitude", "obd", "obs", "random", "reconstruction", "taylor"}));
  EXPECT_EQ(r.names(ComponentKind::RatioPolicy), (std::vector<std::string>{"amc", "erk", "global", "lamp", "netadapt", "sensitivity", "uniform"}));
  EXPECT_EQ(r.names(ComponentKind::Schedule), (std::vector<std::string>{"agp", "iterative", "lottery", "one_shot"}));
  const auto* m = r.find(ComponentKind::Criterion, "magnitude");
  ASSERT_NE(m, nullptr);
  EXPECT_NE(m->file.find("prunelab_magnitude.so"), std::string::npos);
}

TEST(Plugins, WrongApiVersionIsRefusedNamingFileAndVersions) {
  PluginRegistry r;
  try {
    r.load_file(BAD_API_PLUGIN);
    FAIL() << "a plugin with API version 999 was accepted";
  } catch (const PluginLoadError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(BAD_API_PLUGIN), std::string::npos) << msg;
    EXPECT_NE(msg.find("found 999, expected " + std::to_string(kPluginApiVersion)), std::string::npos) << msg;
    EXPECT_NE(msg.find("rebuild it against this prunelab"), std::string::npos) << msg;
  }
  EXPECT_TRUE(r.all().empty());
}

TEST(Plugins, DuplicateNamesAreAnError) {
  PluginRegistry r;
  r.load_file(std::string(PLUGIN_DIR) + "/prunelab_magnitude.so");
  try {
    r.load_file(DUPLICATE_PLUGIN);
    FAIL() << "duplicate accepted";
  } catch (const PluginLoadError& e) {
    EXPECT_NE(std::string(e.what()).find("duplicate criterion 'magnitude'"), std::string::npos) << e.what();
  }
}

TEST(Plugins, AFailedRegistrationLeavesNothingBehind) {
  PluginRegistry r;
  r.load_file(std::string(PLUGIN_DIR) + "/prunelab_magnitude.so");
  EXPECT_THROW(r.load_file(DUPLICATE_PLUGIN), PluginLoadError);
  EXPECT_EQ(r.all().size(), 1u);
  EXPECT_EQ(r.find(ComponentKind::Criterion, "magnitude")->info.version, "1.0.0");
}

TEST(Plugins, NonPluginLibrariesAndMissingFilesAreRefused) {
  PluginRegistry r;
  EXPECT_THROW(r.load_file("/nonexistent/plugin.so"), PluginLoadError);
  EXPECT_THROW(r.load_file("/lib/x86_64-linux-gnu/libz.so.1"), PluginLoadError);
}

TEST(Plugins, CodeFingerprintIsTheVersionAndAHashOfTheLibrary) {
  // Cached first steps and curves are keyed by it: rebuilt plugin code must change it.
  const auto& r = test::builtin_registry();
  const auto* magnitude = r.find(ComponentKind::Criterion, "magnitude");
  ASSERT_NE(magnitude, nullptr);
  std::ifstream in(magnitude->file, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 1000u);
  EXPECT_EQ(r.code_fingerprint(ComponentKind::Criterion, "magnitude"), magnitude->info.version + "@" + stable_hash(bytes));
  EXPECT_NE(r.code_fingerprint(ComponentKind::Criterion, "magnitude"), r.code_fingerprint(ComponentKind::Criterion, "random"));
}

TEST(Plugins, UnknownNamesListTheKnownOnes) {
  auto& r = test::builtin_registry();
  try {
    r.make_criterion("nope", {});
    FAIL();
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("known: bn_scale, fpgm, magnitude, obd, obs, random, reconstruction, taylor)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(r.validate(ComponentKind::Criterion, "magnitude", Params({{"q", 1.0}})), ParamError);
  EXPECT_THROW(r.validate(ComponentKind::Criterion, "magnitude", Params({{"p", std::string("x")}})), ParamError);
  auto filled = r.validate(ComponentKind::Schedule, "iterative", {});
  EXPECT_EQ(filled.get_string("budget"), "total");
}

TEST(Plugins, ObjectsKeepTheirLibraryLoaded) {
  // Each test runs in its own process (gtest_discover_tests), so only this test maps the file.
  const std::string path = std::string(PLUGIN_DIR) + "/prunelab_global.so";
  auto mapped = [&] {
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (h) dlclose(h);
    return h != nullptr;
  };
  ASSERT_FALSE(mapped());
  std::shared_ptr<RatioPolicy> policy;
  {
    PluginRegistry r;
    r.load_file(path);
    policy = r.make_ratio_policy("global", {});
  }  // registry gone: only the policy holds the library now
  EXPECT_TRUE(mapped());
  policy.reset();
  EXPECT_FALSE(mapped()) << "the library stayed loaded after its last object died";

  std::shared_ptr<Criterion> c;
  {
    PluginRegistry r;
    r.load_file(std::string(PLUGIN_DIR) + "/prunelab_magnitude.so");
    c = r.make_criterion("magnitude", Params({{"p", 2.0}}));
  }
  auto w = at::tensor({-3.0f, 1.0f});
  std::vector<LayerView> layers(1);
  layers[0].weight = w;
  layers[0].mask = at::ones_like(w);
  CriterionContext ctx{layers, Granularity{}};
  auto s = c->score(ctx);
  EXPECT_TRUE(at::equal(s[0], at::tensor({3.0f, 1.0f})));
  EXPECT_DOUBLE_EQ(c->slice_norm_p(), 2.0);
}

TEST(Plugins, AStalePluginIsRefusedByItsInterfaceHashBeforeAnythingOfItIsLoaded) {
  // Built against a changed copy of the headers, and calling a function this framework lacks:
  // the ABI record is read from the file first, so the message is the version one.
  const std::string stale = STALE_INTERFACE_HASH;
  ASSERT_NE(stale, kPluginInterfaceHash);
  PluginRegistry r;
  try {
    r.load_file(STALE_ABI_PLUGIN);
    FAIL() << "a plugin built against other headers was accepted";
  } catch (const PluginLoadError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(STALE_ABI_PLUGIN), std::string::npos) << msg;
    EXPECT_NE(msg.find(fmt::format("built against other plugin headers (interface hash {}, this prunelab's is {})", stale,
                                   kPluginInterfaceHash)), std::string::npos) << msg;
    EXPECT_EQ(msg.find("undefined symbol"), std::string::npos) << msg;
  }
  void* h = dlopen(STALE_ABI_PLUGIN, RTLD_NOW | RTLD_NOLOAD);
  EXPECT_EQ(h, nullptr) << "the stale library was mapped";
  if (h) dlclose(h);
}

TEST(Plugins, AnUnresolvableSymbolIsALoadErrorNamingTheFileAndTheSymbol) {
  PluginRegistry r;
  try {
    r.load_file(UNRESOLVED_PLUGIN);
    FAIL() << "a plugin with an undefined symbol was accepted";
  } catch (const PluginLoadError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(std::string("cannot load plugin '") + UNRESOLVED_PLUGIN + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("prunelab::function_this_framework_does_not_have()"), std::string::npos) << msg;
    EXPECT_NE(msg.find("_ZN8prunelab37function_this_framework_does_not_haveEv"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rebuild it against this prunelab"), std::string::npos) << msg;
  }
  // The process and the registry carry on.
  r.load_file(std::string(PLUGIN_DIR) + "/prunelab_magnitude.so");
  EXPECT_NE(r.find(ComponentKind::Criterion, "magnitude"), nullptr);
}

TEST(Plugins, APluginFromBeforeTheAbiRecordIsRefusedAsBuiltAgainstAnOlderPrunelab) {
  PluginRegistry r;
  try {
    r.load_file(OLD_ABI_PLUGIN);
    FAIL();
  } catch (const PluginLoadError& e) {
    EXPECT_NE(std::string(e.what()).find("has no ABI record: it was built against a prunelab older than plugin API"),
              std::string::npos) << e.what();
  }
}

TEST(Plugins, EveryBuiltPluginCarriesTheInterfaceHashOfTheHeaders) {
  const std::string path = std::string(PLUGIN_DIR) + "/prunelab_magnitude.so";
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto scan = scan_library_bytes(bytes);
  ASSERT_EQ(scan.records.size(), 1u);
  const auto abi = parse_abi_record(scan.records[0]);
  ASSERT_TRUE(abi.has_value()) << scan.records[0];
  EXPECT_EQ(abi->api_version, kPluginApiVersion);
  EXPECT_EQ(abi->interface_hash, kPluginInterfaceHash);
  EXPECT_EQ(abi->torch_version, TORCH_VERSION);
  EXPECT_EQ(std::string(kPluginInterfaceHash).size(), 16u);
  EXPECT_FALSE(parse_abi_record("prunelab-plugin-abi;api=x").has_value());
  EXPECT_FALSE(parse_abi_record("prunelab-plugin-abi;").has_value());
  EXPECT_EQ(parse_abi_record("prunelab-plugin-abi;api=9;future=1")->api_version, 9);
}

TEST(Plugins, ADefaultOutsideItsDeclaredRangeIsRefusedAtRegistration) {
  PluginRegistry r;
  struct None final : Criterion {
    std::vector<at::Tensor> score(CriterionContext&) override { return {}; }
  };
  auto make = [](const Params&) -> std::unique_ptr<Criterion> { return std::make_unique<None>(); };
  EXPECT_THROW(r.add_criterion({"bad", "1", "", {ParamSpec{"k", ParamType::Int, int64_t{0}, ""}.at_least(1)}}, make),
               PluginLoadError);
  EXPECT_THROW(r.add_criterion({"bad2", "1", "", {ParamSpec{"k", ParamType::Int, 0.5, ""}}}, make), PluginLoadError);
  r.add_criterion({"good", "1", "", {ParamSpec{"k", ParamType::Int, int64_t{1}, ""}.at_least(1)}}, make);
  try {
    r.validate(ComponentKind::Criterion, "good", Params({{"k", int64_t{0}}}));
    FAIL();
  } catch (const ParamError& e) {
    EXPECT_EQ(e.key, "k");
    EXPECT_EQ(std::string(e.what()), "parameter 'k' of criterion 'good' must be >= 1 (got 0)");
  }
  try {
    r.validate(ComponentKind::Criterion, "good", Params({{"k", 2.5}}));
    FAIL();
  } catch (const ParamError& e) {
    EXPECT_EQ(std::string(e.what()), "parameter 'k' of criterion 'good' must be an integer (got 2.5)");
  }
}

TEST(Plugins, AnUnknownComponentSaysWherePluginsWereLookedFor) {
  PluginRegistry r;
  r.load_directory(PLUGIN_DIR);
  r.load_directory("/nonexistent/plugins");
  const auto msg = r.unknown_component_message(ComponentKind::Schedule, "oneshot");
  EXPECT_NE(msg.find("unknown schedule 'oneshot' (known: agp, iterative, lottery, one_shot)"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::string("plugins were looked for in ") + PLUGIN_DIR + ", /nonexistent/plugins"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("--plugin-dir DIR or $PRUNELAB_PLUGIN_PATH"), std::string::npos) << msg;
}
