"""Module extension for bzlmod builds: corepy's Debian system-package repositories.

The same repositories corepy_dependencies() declares for a WORKSPACE (SYSTEM_REPOSITORIES in
repositories.bzl, made by system_repository), for a MODULE.bazel:

    debian = use_extension("@corepy//third_party:extensions.bzl", "debian_packages")
    debian.package(name = "valgrind")
    use_repo(debian, "valgrind")

corepy's own MODULE.bazel takes valgrind's and FP16's headers from here (the Bazel Central
Registry has no valgrind, and its fp16 module names its target differently); everything else
comes from the registry. Checked by lint; not built here (the CI machine has Bazel 4.2.3 only).
"""

load("//third_party:repositories.bzl", "SYSTEM_REPOSITORIES")
load("//third_party:system_repository.bzl", "system_repository")

def _debian_packages_impl(mctx):
    names = []
    for mod in mctx.modules:
        for tag in mod.tags.package:
            if tag.name not in SYSTEM_REPOSITORIES:
                fail("debian_packages.package: unknown repository \"%s\"; corepy knows %s" % (
                    tag.name,
                    ", ".join(sorted(SYSTEM_REPOSITORIES.keys())),
                ))
            if tag.name not in names:
                names.append(tag.name)
    for name in names:
        system_repository(name = name, **SYSTEM_REPOSITORIES[name])

debian_packages = module_extension(
    implementation = _debian_packages_impl,
    doc = "Repositories from installed Debian -dev packages, as corepy_dependencies() makes them.",
    tag_classes = {
        "package": tag_class(
            doc = "One repository by its name in corepy_dependencies(), e.g. \"valgrind\".",
            attrs = {"name": attr.string(mandatory = True)},
        ),
    },
)
