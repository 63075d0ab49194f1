import { toBinary, type DescFile, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { ReflectionService } from '@grpc/reflection';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';

/**
 * gRPC server reflection (v1 and v1alpha), so grpcurl and other stock tools can list and
 * call the services without the .proto files. @grpc/reflection reads serialized
 * FileDescriptorProtos; ours come straight from the protobuf-es descriptors (no second
 * codegen), the health service's from its own package.
 */
export function reflectionService(services: readonly DescService[]): ReflectionService {
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (files.has(file.name)) return;
    files.set(file.name, file);
    file.dependencies.forEach(visit);
  };
  services.forEach((service) => {
    visit(service.file);
  });

  const fileDescriptorProtos = [...files.values()].map((file) =>
    Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)),
  );
  const health = loadSync(healthProtoPath);
  // reflection only reads `fileDescriptorProtos` from each entry of the package definition.
  const definition = {
    ...health,
    'trading.v1': { format: 'Protocol Buffer 3 FileDescriptorProto', fileDescriptorProtos },
  } as unknown as PackageDefinition;
  return new ReflectionService(definition);
}
