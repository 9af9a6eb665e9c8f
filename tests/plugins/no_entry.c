/* A shared object without vi_plugin_entry: the host must refuse it,
 * naming the file and the missing symbol. */
__attribute__((visibility("default"))) int not_a_vihost_plugin(void);
int not_a_vihost_plugin(void)
{
    return 1;
}
