/* main.c - `ingot COMMAND ...`: dispatch to one file per command family. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "ingot %s - run language models locally\n"
            "\n"
            "usage: ingot COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  run MODEL [PROMPT]   answer PROMPT (or stdin); no prompt on a terminal: chat\n"
            "  chat MODEL           interactive chat through the model's chat template\n"
            "  serve                OpenAI- and Ollama-compatible HTTP server\n"
            "  pull NAME            download a model into the Hugging Face cache\n"
            "  list                 the models in the cache (--health checks it)\n"
            "  rm NAME              remove a model from the cache\n"
            "  import PATH NAME     give a local model file or folder a name\n"
            "  show MODEL           print a model's architecture, size and tokenizer\n"
            "  bench MODEL          measure prompt and generation speed\n"
            "  tokenize MODEL       print the token ids of the text on stdin\n"
            "  convert SRC OUT.gguf turn a Hugging Face folder or GGUF into a GGUF\n"
            "  render MODEL         apply the model's chat template to JSON messages on stdin\n"
            "  version              print the version\n"
            "  help                 this text\n"
            "\n"
            "`ingot COMMAND --help` describes a command's flags.\n",
            IG_VERSION);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "show")) return cmd_show(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "pull")) return cmd_pull(argc - 1, argv + 1);
    if (!strcmp(cmd, "list") || !strcmp(cmd, "ls")) return cmd_list(argc - 1, argv + 1);
    if (!strcmp(cmd, "rm")) return cmd_rm(argc - 1, argv + 1);
    if (!strcmp(cmd, "import")) return cmd_import(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "chat")) return cmd_chat(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "render")) return cmd_render(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("ingot %s\n", IG_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    die("unknown command '%s' (try `ingot help`)", cmd);
    return 2;
}
